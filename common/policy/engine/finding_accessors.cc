#include "common/policy/engine/finding_accessors.h"

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "common/expr/runtime/value.h"
#include "google/protobuf/message.h"
#include "treatd/v1/finding.pb.h"

namespace treatd {
namespace {

using expr::FieldAccessor;
using expr::Value;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// The class a getter belongs to, for the templates below.
template <typename M, typename R>
M ClassOf(R (M::*)() const);
template <auto kGet>
using ClassOfT = decltype(ClassOf(kGet));

// The checker only plans a read of a field on a message of the field's
// containing type, and Findings are generated messages.
template <typename M>
const M& As(const Message& m) {
  return static_cast<const M&>(m);
}

class Table {
 public:
  const FieldAccessor* Find(const FieldDescriptor* field) const {
    auto it = accessors_.find(field);
    return it == accessors_.end() ? nullptr : &it->second;
  }

  template <auto kGet>
  void String(absl::string_view name) {
    using M = ClassOfT<kGet>;
    Add<M>(name).scalar = [](const Message& m) {
      return Value::String((As<M>(m).*kGet)());
    };
  }

  template <auto kGet>
  void Bool(absl::string_view name) {
    using M = ClassOfT<kGet>;
    Add<M>(name).scalar = [](const Message& m) {
      return Value::Bool((As<M>(m).*kGet)());
    };
  }

  // An `optional double` field: presence is tracked.
  template <auto kGet, auto kHas>
  void OptionalDouble(absl::string_view name) {
    using M = ClassOfT<kGet>;
    FieldAccessor& a = Add<M>(name);
    a.scalar = [](const Message& m) {
      return Value::Double((As<M>(m).*kGet)());
    };
    a.has = [](const Message& m) { return (As<M>(m).*kHas)(); };
  }

  template <auto kGet>
  void Enum(absl::string_view name) {
    using M = ClassOfT<kGet>;
    Add<M>(name).enum_number = [](const Message& m) {
      return static_cast<int>((As<M>(m).*kGet)());
    };
  }

  template <auto kGet, auto kHas>
  void Sub(absl::string_view name) {
    using M = ClassOfT<kGet>;
    FieldAccessor& a = Add<M>(name);
    a.message = [](const Message& m) -> const Message& {
      return (As<M>(m).*kGet)();
    };
    a.has = [](const Message& m) { return (As<M>(m).*kHas)(); };
  }

 private:
  template <typename M>
  FieldAccessor& Add(absl::string_view name) {
    const FieldDescriptor* field =
        M::descriptor()->FindFieldByName(std::string(name));
    // Unknown names are caught by the coverage test; the entry then only
    // goes unused.
    return accessors_[field];
  }

  absl::flat_hash_map<const FieldDescriptor*, FieldAccessor> accessors_;
};

const Table& FindingTable() {
  static const Table* const table = [] {
    using namespace v1;  // NOLINT(build/namespaces): a table of v1 types.
    auto* t = new Table;
    t->String<&Finding::id>("id");
    t->Enum<&Finding::kind>("kind");
    t->String<&Finding::source>("source");
    t->String<&Finding::title>("title");
    t->String<&Finding::description>("description");
    t->Enum<&Finding::severity>("severity");
    t->Sub<&Finding::vulnerability, &Finding::has_vulnerability>(
        "vulnerability");
    t->Sub<&Finding::package, &Finding::has_package>("package");
    t->Sub<&Finding::fix, &Finding::has_fix>("fix");
    t->Sub<&Finding::asset, &Finding::has_asset>("asset");
    t->Sub<&Finding::misconfiguration, &Finding::has_misconfiguration>(
        "misconfiguration");
    t->Sub<&Finding::secret, &Finding::has_secret>("secret");
    t->Sub<&Finding::malware, &Finding::has_malware>("malware");
    t->Bool<&Finding::active_incident>("active_incident");
    t->Sub<&Finding::first_seen, &Finding::has_first_seen>("first_seen");
    t->Sub<&Finding::last_seen, &Finding::has_last_seen>("last_seen");
    t->String<&Finding::identity_key>("identity_key");

    t->String<&Vulnerability::cve_id>("cve_id");
    t->Sub<&Vulnerability::cvss, &Vulnerability::has_cvss>("cvss");
    t->Sub<&Vulnerability::epss, &Vulnerability::has_epss>("epss");
    t->Sub<&Vulnerability::kev, &Vulnerability::has_kev>("kev");
    t->Enum<&Vulnerability::exploit_maturity>("exploit_maturity");
    t->Enum<&Vulnerability::automatable>("automatable");
    t->Enum<&Vulnerability::technical_impact>("technical_impact");
    t->Sub<&Vulnerability::published, &Vulnerability::has_published>(
        "published");

    t->String<&Cvss::version>("version");
    t->OptionalDouble<&Cvss::score, &Cvss::has_score>("score");
    t->String<&Cvss::vector>("vector");

    t->OptionalDouble<&Epss::score, &Epss::has_score>("score");
    t->OptionalDouble<&Epss::percentile, &Epss::has_percentile>("percentile");
    t->String<&Epss::model_version>("model_version");
    t->Sub<&Epss::score_date, &Epss::has_score_date>("score_date");

    t->Bool<&Kev::listed>("listed");
    t->Sub<&Kev::date_added, &Kev::has_date_added>("date_added");
    t->Sub<&Kev::due_date, &Kev::has_due_date>("due_date");
    t->Bool<&Kev::known_ransomware_use>("known_ransomware_use");
    t->String<&Kev::required_action>("required_action");

    t->String<&Package::name>("name");
    t->String<&Package::ecosystem>("ecosystem");
    t->String<&Package::installed_version>("installed_version");
    t->String<&Package::purl>("purl");

    t->Enum<&Fix::availability>("availability");
    t->Bool<&Fix::change_freeze>("change_freeze");
    t->Bool<&Fix::restart_required>("restart_required");
    t->Sub<&Fix::next_maintenance_window, &Fix::has_next_maintenance_window>(
        "next_maintenance_window");

    t->String<&Asset::id>("id");
    t->Enum<&Asset::type>("type");
    t->Enum<&Asset::environment>("environment");
    t->Enum<&Asset::criticality>("criticality");
    t->Enum<&Asset::exposure>("exposure");
    t->Enum<&Asset::data_classification>("data_classification");
    t->String<&Asset::owner>("owner");
    t->String<&Asset::name>("name");

    t->Enum<&CompensatingControl::type>("type");
    t->Enum<&CompensatingControl::effectiveness>("effectiveness");
    t->String<&CompensatingControl::description>("description");
    t->String<&CompensatingControl::reference>("reference");

    t->String<&Misconfiguration::check_id>("check_id");
    t->String<&Misconfiguration::resource>("resource");
    t->String<&Misconfiguration::setting>("setting");
    t->String<&Misconfiguration::actual>("actual");
    t->String<&Misconfiguration::expected>("expected");

    t->String<&Secret::secret_type>("secret_type");
    t->String<&Secret::location>("location");
    t->Bool<&Secret::verified_active>("verified_active");
    t->Bool<&Secret::publicly_exposed>("publicly_exposed");

    t->String<&Malware::family>("family");
    t->String<&Malware::path>("path");
    t->String<&Malware::sha256>("sha256");
    t->Bool<&Malware::quarantined>("quarantined");
    t->Bool<&Malware::active>("active");
    return t;
  }();
  return *table;
}

}  // namespace

FieldAccessor FindingFieldAccessor(const FieldDescriptor* field) {
  const FieldAccessor* a = FindingTable().Find(field);
  return a != nullptr ? *a : FieldAccessor();
}

}  // namespace treatd
