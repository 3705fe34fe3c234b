// ServerMetrics: treatd's Prometheus metrics, served over plain HTTP on a
// separate (by default loopback) address at /metrics.
//
// Recorded by the call interceptor (server/call_governor.h):
//   treatd_rpcs_in_flight{method}                    gauge
//   treatd_rpc_duration_seconds{method}              histogram
//   treatd_rpc_errors_total{method,code}             counter (non-OK only)
//   treatd_rpc_rejected_total{reason}                counter (limits, auth
//                                                    failures seen here)
//   treatd_batch_size                                histogram (findings)
//   treatd_decisions_total{treatment,priority,rule}  counter
// Computed from the PolicyStore at scrape time:
//   treatd_policy_info{name,version,digest}          gauge, always 1
//   treatd_policy_loaded_timestamp_seconds           gauge
//   treatd_policy_reloads_total{result="ok|rejected"} counter
//   treatd_feed_age_seconds{feed="kev|epss"}         gauge
//   treatd_feed_stale{feed}                          gauge (0/1)
//
// Thread-safe: every method may be called concurrently.
#ifndef TREATD_SERVER_METRICS_METRICS_H_
#define TREATD_SERVER_METRICS_METRICS_H_

#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "server/policy_store.h"
#include "treatd/v1/decision.pb.h"

namespace treatd {

// One gauge or counter value with `labels`, for collectors that compute
// their metrics at scrape time.
prometheus::ClientMetric GaugeValue(
    double value, std::vector<prometheus::ClientMetric::Label> labels = {});
prometheus::ClientMetric CounterValue(
    double value, std::vector<prometheus::ClientMetric::Label> labels = {});

class ServerMetrics {
 public:
  // Starts the HTTP endpoint on `listen` ("127.0.0.1:9464"; port 0 picks a
  // free port); an empty `listen` records metrics without serving them.
  // `store` is not owned and must outlive this object; `intel_max_age` is
  // the server's staleness limit (zero: feeds are never stale).
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Create(
      const std::string& listen, const PolicyStore* store,
      absl::Duration intel_max_age);

  // Stops the HTTP endpoint at once (not at the next 2 s tick of its
  // listener, see metrics.cc).
  ~ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // The HTTP port bound, 0 when not serving.
  int port() const { return port_; }

  void CallStarted(absl::string_view method);
  // `code` other than OK counts in treatd_rpc_errors_total.
  void CallFinished(absl::string_view method, grpc::StatusCode code,
                    absl::Duration elapsed);
  void CallRejected(absl::string_view reason);
  void RecordBatchSize(int findings);
  void RecordDecision(const v1::Decision& decision);
  // The counter RecordDecision(decision) increments, for a caller that
  // counts the decision later without keeping it (a BatchDecide counts
  // its decisions once the ledger has recorded them). Lives as long as
  // this object.
  prometheus::Counter* DecisionCounter(const v1::Decision& decision) {
    return &DecisionSeries(decision);
  }

  // Adds metrics computed at scrape time by `collectable` (e.g. the
  // ledger's, server/ledger/ledger_metrics.h), served and rendered with the
  // others. Call before serving traffic.
  void AddCollectable(std::shared_ptr<prometheus::Collectable> collectable);

  // The exposition text, as a scrape would see it (for tests and logs).
  std::string Render() const;

 private:
  class PolicyCollector;

  // One method's series.
  struct MethodSeries {
    prometheus::Gauge* in_flight;
    prometheus::Histogram* duration;
  };

  // The series of `method` / of a decision's labels, added on first use.
  MethodSeries SeriesOf(absl::string_view method);
  prometheus::Counter& DecisionSeries(const v1::Decision& decision);

  explicit ServerMetrics(const PolicyStore* store,
                         absl::Duration intel_max_age);

  // Constant after Create().
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<PolicyCollector> policy_collector_;
  std::vector<std::shared_ptr<prometheus::Collectable>> extra_collectables_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
  // Where a connection reaches the exposer's listening socket (see
  // ~ServerMetrics); length 0 when unknown.
  sockaddr_storage listener_address_ = {};
  socklen_t listener_address_length_ = 0;
  prometheus::Family<prometheus::Gauge>* in_flight_;
  prometheus::Family<prometheus::Histogram>* duration_;
  prometheus::Family<prometheus::Counter>* errors_;
  prometheus::Family<prometheus::Counter>* rejected_;
  prometheus::Family<prometheus::Counter>* decisions_;
  prometheus::Histogram* batch_size_;

  // Family::Add builds a label map, hashes it and locks the family each
  // time (about 10,000 instructions of a Decide call went to the three
  // families); the series it returns live as long as the family, so each
  // is looked up there once and kept here. Methods are a fixed set and
  // decision labels are bounded by the policies' rules.
  absl::Mutex series_mu_;
  absl::flat_hash_map<std::string, MethodSeries> method_series_
      ABSL_GUARDED_BY(series_mu_);
  // Keyed by DecisionKey() (metrics.cc).
  absl::flat_hash_map<std::string, prometheus::Counter*> decision_series_
      ABSL_GUARDED_BY(series_mu_);
};

}  // namespace treatd

#endif  // TREATD_SERVER_METRICS_METRICS_H_
