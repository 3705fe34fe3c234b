// Random treatd.v1.Finding messages for differential tests, generated from
// the Finding descriptor (so fields added later are covered): every field
// is set with some probability, values are drawn from small pools so that
// comparisons and lookups sometimes hit. With `invalid` the pools also hold
// what validation rejects: NaN and out-of-range scores, enum numbers that
// name no value, timestamps outside 0001..9999 or with bad nanos, strings
// and lists one over the limits, and findings without id or kind.
// Deterministic for a seed. Single-threaded test helper.
#ifndef TREATD_TESTS_COMMON_RANDOM_FINDING_H_
#define TREATD_TESTS_COMMON_RANDOM_FINDING_H_

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::testing {

struct RandomFindingOptions {
  // Chance (percent) that each field is set.
  int set_percent = 60;
  // Also draw values validation rejects (see above).
  bool invalid = false;
  // With `invalid`: overlong strings are this long, overlong lists have
  // this many entries (the limits plus one).
  size_t overlong_string = 9;
  int overlong_list = 4;
};

class RandomFindings {
 public:
  RandomFindings(uint32_t seed, RandomFindingOptions options)
      : rng_(seed), options_(options) {}

  v1::Finding Next() {
    v1::Finding finding;
    Fill(&finding, 0);
    if (!options_.invalid || !Chance(10)) {
      if (finding.id().empty()) finding.set_id("f-1");
      if (finding.kind() == v1::FINDING_KIND_UNSPECIFIED) {
        finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
      }
    }
    // Through the wire, as a server receives it. Maps are filled through
    // reflection, whose entry list may repeat a key; the map then keeps the
    // last value while the entry list keeps all of them, a state no parsed
    // message is in (the validator's fast path reads the map, its
    // reflection walk the entries).
    v1::Finding parsed;
    parsed.ParseFromString(finding.SerializeAsString());
    return parsed;
  }

  // Fills any message the way Next() fills a finding (e.g. a
  // DecisionResult for the JSON writer's differential test).
  void FillMessage(google::protobuf::Message* m) { Fill(m, 0); }

  int Uniform(int n) {
    return std::uniform_int_distribution<int>(0, n - 1)(rng_);
  }
  bool Chance(int percent) { return Uniform(100) < percent; }

  // A string from the pool: empty, ASCII words that differ in case, UTF-8,
  // CSV and JSON specials (comma, quote, newline, backslash).
  std::string Word() {
    static const char* const kWords[] = {"",
                                         "a",
                                         "web-1",
                                         "Web-1",
                                         "pci",
                                         "xz",
                                         "p",
                                         "CVE-2024-3094",
                                         "\xc3\xa9t\xc3\xa9",
                                         "a,b",
                                         "say \"hi\"",
                                         "two\nlines",
                                         "back\\slash",
                                         "=cmd",
                                         " padded ",
                                         "\t"};
    return kWords[Uniform(sizeof(kWords) / sizeof(kWords[0]))];
  }

 private:
  using FieldDescriptor = google::protobuf::FieldDescriptor;
  using Message = google::protobuf::Message;

  std::string String() {
    if (options_.invalid && Chance(3)) {
      return std::string(options_.overlong_string, 'x');
    }
    return Word();
  }

  double Double(const FieldDescriptor* f) {
    static const double kValid[] = {0.0, -0.0, 0.5, 1.0, 0.97, 1e-9};
    static const double kScores[] = {3.0, 7.5, 9.8, 10.0};
    static const double kInvalid[] = {std::numeric_limits<double>::quiet_NaN(),
                                      std::numeric_limits<double>::infinity(),
                                      -1.0, 11.0, 1.0000001};
    if (options_.invalid && Chance(8)) return kInvalid[Uniform(5)];
    if (f->containing_type()->name() == "Cvss" && Chance(70)) {
      return kScores[Uniform(4)];
    }
    return kValid[Uniform(6)];
  }

  int Enum(const FieldDescriptor* f) {
    if (options_.invalid && Chance(5)) return 99;
    const auto* e = f->enum_type();
    return e->value(Uniform(e->value_count()))->number();
  }

  void Timestamp(Message* m) {
    const auto* d = m->GetDescriptor();
    const auto* r = m->GetReflection();
    static const int64_t kSeconds[] = {0, 1796083200, 1795478400, -62135596800,
                                       253402300799};
    static const int64_t kBadSeconds[] = {253402300800, -62135596801,
                                          std::numeric_limits<int64_t>::max()};
    const bool bad = options_.invalid && Chance(10);
    r->SetInt64(
        m, d->FindFieldByName("seconds"),
        bad && Chance(50) ? kBadSeconds[Uniform(3)] : kSeconds[Uniform(5)]);
    r->SetInt32(m, d->FindFieldByName("nanos"),
                bad && Chance(50) ? (Chance(50) ? -1 : 1000000000)
                                  : (Chance(80) ? 0 : 999999999));
  }

  int Count() {
    if (options_.invalid && Chance(5)) return options_.overlong_list;
    return Uniform(4);
  }

  void Fill(Message* m, int depth) {
    const auto* r = m->GetReflection();
    const auto* d = m->GetDescriptor();
    if (d->full_name() == "google.protobuf.Timestamp") {
      Timestamp(m);
      return;
    }
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (!Chance(options_.set_percent)) continue;
      if (f->is_map()) {
        for (int n = Count(); n > 0; --n) {
          Message* entry = r->AddMessage(m, f);
          const auto* er = entry->GetReflection();
          er->SetString(entry, f->message_type()->map_key(), String());
          er->SetString(entry, f->message_type()->map_value(), String());
        }
        continue;
      }
      if (f->is_repeated()) {
        for (int n = Count(); n > 0; --n) {
          switch (f->cpp_type()) {
            case FieldDescriptor::CPPTYPE_STRING:
              r->AddString(m, f, String());
              break;
            case FieldDescriptor::CPPTYPE_ENUM:
              r->AddEnumValue(m, f, Enum(f));
              break;
            case FieldDescriptor::CPPTYPE_MESSAGE:
              if (depth < 3) Fill(r->AddMessage(m, f), depth + 1);
              break;
            default:
              break;
          }
        }
        continue;
      }
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_BOOL:
          r->SetBool(m, f, Chance(50));
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
          r->SetDouble(m, f, Double(f));
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          r->SetFloat(m, f, static_cast<float>(Double(f)));
          break;
        case FieldDescriptor::CPPTYPE_STRING:
          r->SetString(m, f, String());
          break;
        case FieldDescriptor::CPPTYPE_ENUM:
          r->SetEnumValue(m, f, Enum(f));
          break;
        case FieldDescriptor::CPPTYPE_INT32:
          r->SetInt32(m, f, Uniform(1000) - 500);
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          r->SetInt64(m, f, Uniform(1000000) - 500000);
          break;
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (depth < 3) Fill(r->MutableMessage(m, f), depth + 1);
          break;
        default:
          break;
      }
    }
  }

  std::mt19937 rng_;
  const RandomFindingOptions options_;
};

}  // namespace treatd::testing

#endif  // TREATD_TESTS_COMMON_RANDOM_FINDING_H_
