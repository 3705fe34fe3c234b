#include "server/metrics/metrics.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "common/intel/enrich.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace treatd {
namespace {

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

// The call latency buckets, in seconds.
const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const auto* const buckets =
      new prometheus::Histogram::BucketBoundaries{
          0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
          0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
  return *buckets;
}

// A decision's labels as one string, written into `key`: the treatment's
// number, the priority's length, the priority and the rule, so no two
// label sets share a key whatever their text.
void DecisionKey(const v1::Decision& decision, std::string* key) {
  key->clear();
  absl::StrAppend(key, static_cast<int>(decision.treatment()), ":",
                  decision.priority().size(), ":", decision.priority(),
                  decision.matched_rule());
}

// The host a connection to a listener on `listen` ("127.0.0.1:9464",
// "[::1]:9464", "0.0.0.0:9464", "9464") goes to: loopback for a wildcard
// or no host.
std::string ConnectHost(absl::string_view listen) {
  const size_t colon = listen.rfind(':');
  if (colon == absl::string_view::npos) return "127.0.0.1";
  absl::string_view host = listen.substr(0, colon);
  const bool v6 =
      absl::ConsumePrefix(&host, "[") && absl::ConsumeSuffix(&host, "]");
  if (host.empty() || host == "0.0.0.0") return "127.0.0.1";
  if (v6 && host == "::") return "::1";
  return std::string(host);
}

// Opens a connection to `address` and closes it (waiting at most `wait`
// for it to be established); errors are ignored.
void Knock(const sockaddr_storage& address, socklen_t length,
           absl::Duration wait) {
  const int fd =
      socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0 &&
      errno == EINPROGRESS) {
    pollfd pending = {fd, POLLOUT, 0};
    poll(&pending, 1, static_cast<int>(absl::ToInt64Milliseconds(wait)));
  }
  close(fd);
}

}  // namespace

prometheus::ClientMetric GaugeValue(
    double value, std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  return metric;
}

prometheus::ClientMetric CounterValue(
    double value, std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.counter.value = value;
  return metric;
}

// Reads the PolicyStore on every scrape, so the values can never lag a
// reload.
class ServerMetrics::PolicyCollector : public prometheus::Collectable {
 public:
  PolicyCollector(const PolicyStore* store, absl::Duration intel_max_age)
      : store_(store), intel_max_age_(intel_max_age) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> families;
    // One read: the reload counters and the policy they led to pair up.
    const PolicyStoreState state = store_->GetWithHistory();
    const ReloadHistory& history = state.history;
    prometheus::MetricFamily reloads{
        "treatd_policy_reloads_total",
        "Reloads of the policy and feeds, by result",
        prometheus::MetricType::Counter,
        {}};
    reloads.metric.push_back(
        CounterValue(static_cast<double>(history.reloads - history.rejected),
                     {{"result", "ok"}}));
    reloads.metric.push_back(CounterValue(static_cast<double>(history.rejected),
                                          {{"result", "rejected"}}));
    families.push_back(std::move(reloads));

    const std::shared_ptr<const ActivePolicy>& active = state.active;
    if (active == nullptr || active->policy == nullptr) return families;
    const v1::PolicyRef& ref = active->policy->ref();
    prometheus::MetricFamily info{
        "treatd_policy_info",
        "The active policy; the value is always 1",
        prometheus::MetricType::Gauge,
        {GaugeValue(1, {{"digest", ref.digest()},
                        {"name", ref.name()},
                        {"version", ref.version()}})}};
    families.push_back(std::move(info));
    families.push_back(prometheus::MetricFamily{
        "treatd_policy_loaded_timestamp_seconds",
        "When the active policy was loaded (Unix time)",
        prometheus::MetricType::Gauge,
        {GaugeValue(
            absl::ToDoubleSeconds(active->loaded_at - absl::UnixEpoch()))}});

    if (active->pipeline == nullptr || active->pipeline->intel() == nullptr) {
      return families;
    }
    const intel::IntelFreshness fresh = intel::CheckFreshness(
        *active->pipeline->intel(), intel_max_age_, absl::Now());
    prometheus::MetricFamily ages{"treatd_feed_age_seconds",
                                  "Age of each threat-intel feed's data",
                                  prometheus::MetricType::Gauge,
                                  {}};
    prometheus::MetricFamily stale{
        "treatd_feed_stale",
        "1 when a feed is older than --intel-max-age",
        prometheus::MetricType::Gauge,
        {}};
    auto add = [&](const char* feed, const intel::FeedFreshness& f) {
      if (!f.present) return;
      ages.metric.push_back(
          GaugeValue(absl::ToDoubleSeconds(f.age), {{"feed", feed}}));
      stale.metric.push_back(GaugeValue(f.stale ? 1 : 0, {{"feed", feed}}));
    };
    add("kev", fresh.kev);
    add("epss", fresh.epss);
    families.push_back(std::move(ages));
    families.push_back(std::move(stale));
    return families;
  }

 private:
  const PolicyStore* const store_;
  const absl::Duration intel_max_age_;
};

ServerMetrics::ServerMetrics(const PolicyStore* store,
                             absl::Duration intel_max_age)
    : registry_(std::make_shared<prometheus::Registry>()),
      policy_collector_(
          std::make_shared<PolicyCollector>(store, intel_max_age)) {
  in_flight_ = &prometheus::BuildGauge()
                    .Name("treatd_rpcs_in_flight")
                    .Help("Calls being handled, by method")
                    .Register(*registry_);
  duration_ = &prometheus::BuildHistogram()
                   .Name("treatd_rpc_duration_seconds")
                   .Help("Call latency from metadata to status, by method")
                   .Register(*registry_);
  errors_ = &prometheus::BuildCounter()
                 .Name("treatd_rpc_errors_total")
                 .Help("Calls that ended with a status other than OK")
                 .Register(*registry_);
  rejected_ = &prometheus::BuildCounter()
                   .Name("treatd_rpc_rejected_total")
                   .Help("Calls refused or cut off by a server limit")
                   .Register(*registry_);
  decisions_ = &prometheus::BuildCounter()
                    .Name("treatd_decisions_total")
                    .Help("Decisions made, by treatment, priority and rule")
                    .Register(*registry_);
  batch_size_ = &prometheus::BuildHistogram()
                     .Name("treatd_batch_size")
                     .Help("Findings per BatchDecide call")
                     .Register(*registry_)
                     .Add({}, prometheus::Histogram::BucketBoundaries{
                                  1, 10, 100, 1000, 10000, 100000});
}

// prometheus-cpp's Exposer serves with civetweb, whose listener thread
// waits for connections in polls of up to 2 s (SOCKET_TIMEOUT_QUANTUM,
// civetweb 1.15) and sees that it is stopped only between two: deleting the
// Exposer took 0 to 2 s, at every exit of treatd. A connection ends the
// poll at once, so one is made every few milliseconds until it is gone
// (the listener does not take connections made once it is stopping).
ServerMetrics::~ServerMetrics() {
  if (exposer_ == nullptr || listener_address_length_ == 0) return;
  absl::Notification stopped;
  std::thread knocker([this, &stopped] {
    constexpr absl::Duration kEvery = absl::Milliseconds(5);
    do {
      Knock(listener_address_, listener_address_length_, kEvery);
    } while (!stopped.WaitForNotificationWithTimeout(kEvery));
  });
  exposer_.reset();
  stopped.Notify();
  knocker.join();
}

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Create(
    const std::string& listen, const PolicyStore* store,
    absl::Duration intel_max_age) {
  auto metrics = absl::WrapUnique(new ServerMetrics(store, intel_max_age));
  if (listen.empty()) return metrics;
  // prometheus-cpp reports a failed bind with an exception; this is the
  // one place it can throw, so convert it here.
  try {
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
  metrics->exposer_->RegisterCollectable(metrics->registry_);
  metrics->exposer_->RegisterCollectable(metrics->policy_collector_);
  const std::vector<int> ports = metrics->exposer_->GetListeningPorts();
  metrics->port_ = ports.empty() ? 0 : ports.front();
  // Resolved now rather than at shutdown, where a name lookup could hang.
  addrinfo hints = {};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (metrics->port_ != 0 && getaddrinfo(ConnectHost(listen).c_str(),
                                         std::to_string(metrics->port_).c_str(),
                                         &hints, &found) == 0) {
    if (found != nullptr && found->ai_addrlen <= sizeof(sockaddr_storage)) {
      std::memcpy(&metrics->listener_address_, found->ai_addr,
                  found->ai_addrlen);
      metrics->listener_address_length_ = found->ai_addrlen;
    }
    freeaddrinfo(found);
  }
  return metrics;
}

ServerMetrics::MethodSeries ServerMetrics::SeriesOf(absl::string_view method) {
  {
    absl::ReaderMutexLock lock(&series_mu_);
    if (auto it = method_series_.find(method); it != method_series_.end()) {
      return it->second;
    }
  }
  absl::MutexLock lock(&series_mu_);
  auto [it, added] = method_series_.try_emplace(method);
  if (added) {
    const std::string name(method);
    it->second.in_flight = &in_flight_->Add({{"method", name}});
    it->second.duration =
        &duration_->Add({{"method", name}}, DurationBuckets());
  }
  return it->second;
}

prometheus::Counter& ServerMetrics::DecisionSeries(
    const v1::Decision& decision) {
  // Reused call after call by this thread: no allocation once grown.
  thread_local std::string key;
  DecisionKey(decision, &key);
  {
    absl::ReaderMutexLock lock(&series_mu_);
    if (auto it = decision_series_.find(key); it != decision_series_.end()) {
      return *it->second;
    }
  }
  absl::MutexLock lock(&series_mu_);
  prometheus::Counter*& counter = decision_series_[key];
  if (counter == nullptr) {
    counter = &decisions_->Add(
        {{"treatment", v1::Treatment_Name(decision.treatment())},
         {"priority", decision.priority()},
         {"rule", decision.matched_rule()}});
  }
  return *counter;
}

void ServerMetrics::CallStarted(absl::string_view method) {
  SeriesOf(method).in_flight->Increment();
}

void ServerMetrics::CallFinished(absl::string_view method,
                                 grpc::StatusCode code,
                                 absl::Duration elapsed) {
  const MethodSeries series = SeriesOf(method);
  series.in_flight->Decrement();
  series.duration->Observe(absl::ToDoubleSeconds(elapsed));
  if (code != grpc::StatusCode::OK) {
    errors_
        ->Add({{"method", std::string(method)}, {"code", StatusCodeName(code)}})
        .Increment();
  }
}

void ServerMetrics::CallRejected(absl::string_view reason) {
  rejected_->Add({{"reason", std::string(reason)}}).Increment();
}

void ServerMetrics::RecordBatchSize(int findings) {
  batch_size_->Observe(findings);
}

void ServerMetrics::RecordDecision(const v1::Decision& decision) {
  DecisionSeries(decision).Increment();
}

void ServerMetrics::AddCollectable(
    std::shared_ptr<prometheus::Collectable> collectable) {
  if (exposer_ != nullptr) exposer_->RegisterCollectable(collectable);
  extra_collectables_.push_back(std::move(collectable));
}

std::string ServerMetrics::Render() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::vector<prometheus::MetricFamily> policy = policy_collector_->Collect();
  families.insert(families.end(), policy.begin(), policy.end());
  for (const auto& collectable : extra_collectables_) {
    std::vector<prometheus::MetricFamily> more = collectable->Collect();
    families.insert(families.end(), more.begin(), more.end());
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace treatd
