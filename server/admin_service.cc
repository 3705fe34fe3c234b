#include "server/admin_service.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/intel/enrich.h"
#include "common/policy/simulate/simulate.h"
#include "common/time/proto_time.h"
#include "server/request_checks.h"

namespace treatd {
namespace {

constexpr int kDefaultMaxMoved = 100;

}  // namespace

AdminServiceImpl::AdminServiceImpl(PolicyStore* store, Reloader* reloader,
                                   const ShadowRecorder* shadow,
                                   ServiceLimits limits, Clock clock)
    : store_(store),
      reloader_(reloader),
      shadow_(shadow),
      limits_(std::move(limits)),
      clock_(std::move(clock)) {}

grpc::Status AdminServiceImpl::Reload(grpc::ServerContext* context,
                                      const v1::ReloadRequest* request,
                                      v1::ReloadResponse* response) {
  // A call the call governor refused (over a limit) is already cancelled,
  // but gRPC still runs its handler: a refused reload must not reload.
  if (context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "call was refused");
  }
  if (reloader_ == nullptr) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        "this server was not started from files; there is nothing to reload"));
  }
  *response->mutable_result() =
      reloader_->Reload("admin-rpc", request->force());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetStatus(
    grpc::ServerContext* /*context*/, const v1::GetStatusRequest* /*request*/,
    v1::GetStatusResponse* response) {
  // The policy and the reload record from one moment.
  const PolicyStoreState state = store_->GetWithHistory();
  const std::shared_ptr<const ActivePolicy>& active = state.active;
  if (active == nullptr) {
    return ToGrpcStatus(absl::FailedPreconditionError("no policy is loaded"));
  }
  *response->mutable_policy() = active->policy->ref();
  response->set_policy_source(active->source);
  ToProtoTime(active->loaded_at, response->mutable_policy_loaded_at());
  if (const auto& intel = active->pipeline->intel(); intel != nullptr) {
    const intel::IntelFreshness fresh = intel::CheckFreshness(
        *intel, active->pipeline->settings().max_age, clock_());
    if (const intel::KevFeed* kev = intel->kev(); kev != nullptr) {
      v1::FeedStatus* feed = response->add_feeds();
      feed->set_feed("kev");
      feed->set_version(kev->description());
      feed->set_source(kev->source());
      feed->set_entries(static_cast<int64_t>(kev->size()));
      feed->set_malformed_count(kev->malformed().count());
      ToProtoTime(kev->loaded_at(), feed->mutable_loaded_at());
      feed->set_stale(fresh.kev.stale);
    }
    if (const intel::EpssFeed* epss = intel->epss(); epss != nullptr) {
      v1::FeedStatus* feed = response->add_feeds();
      feed->set_feed("epss");
      feed->set_version(epss->description());
      feed->set_source(epss->source());
      feed->set_entries(static_cast<int64_t>(epss->size()));
      feed->set_malformed_count(epss->malformed().count());
      ToProtoTime(epss->loaded_at(), feed->mutable_loaded_at());
      feed->set_stale(fresh.epss.stale);
    }
  }
  const ReloadHistory& history = state.history;
  if (history.reloads > 0) *response->mutable_last_reload() = history.last;
  if (history.rejected > 0) {
    *response->mutable_last_rejected_reload() = history.last_rejected;
  }
  response->set_reloads(history.reloads);
  response->set_rejected_reloads(history.rejected);
  if (shadow_ != nullptr && active->shadow != nullptr) {
    *response->mutable_shadow() = shadow_->Status();
    if (response->shadow().policy().digest() !=
        active->shadow->policy().ref().digest()) {
      // Nothing decided under the current shadow policy yet.
      response->mutable_shadow()->Clear();
      *response->mutable_shadow()->mutable_policy() =
          active->shadow->policy().ref();
      response->mutable_shadow()->set_source(active->shadow_source);
    }
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::Simulate(grpc::ServerContext* /*context*/,
                                        const v1::SimulateRequest* request,
                                        v1::SimulateResponse* response) {
  const int count = request->findings_size();
  if (count == 0) {
    return ToGrpcStatus(
        absl::InvalidArgumentError("findings: must hold at least one finding"));
  }
  if (count > limits_.max_batch) {
    return ToGrpcStatus(absl::ResourceExhaustedError(
        absl::StrCat("findings: ", count, " findings exceed the limit of ",
                     limits_.max_batch, " per Simulate call")));
  }
  std::shared_ptr<const ActivePolicy> active = store_->Get();
  if (active == nullptr) {
    return ToGrpcStatus(absl::FailedPreconditionError("no policy is loaded"));
  }
  absl::StatusOr<absl::Time> as_of =
      ResolveAsOf(request->has_as_of(), request->as_of(), clock_());
  if (!as_of.ok()) return ToGrpcStatus(as_of.status());
  const std::string filename = request->candidate_filename().empty()
                                   ? "candidate.yaml"
                                   : request->candidate_filename();
  std::vector<v1::PolicyIssue> issues;
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> candidate =
      CompiledPolicy::Compile(request->candidate_policy(), filename, &issues);
  if (!candidate.ok()) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "candidate_policy: invalid policy:\n", candidate.status().message())));
  }
  absl::StatusOr<std::shared_ptr<const DecisionPipeline>> pipeline =
      DecisionPipeline::Create(*candidate, active->pipeline->intel(),
                               active->pipeline->settings());
  if (!pipeline.ok()) return ToGrpcStatus(pipeline.status());
  EvalOptions options;
  options.as_of = *as_of;
  const int max_moved =
      request->max_moved() > 0 ? request->max_moved() : kDefaultMaxMoved;
  const std::vector<const v1::Finding*> findings(
      request->findings().pointer_begin(), request->findings().pointer_end());
  *response->mutable_report() =
      treatd::Simulate(*active->pipeline, **pipeline, findings, options,
                       limits_.finding, max_moved);
  *response->mutable_baseline_policy() = active->policy->ref();
  *response->mutable_candidate_policy() = (*candidate)->ref();
  for (v1::PolicyIssue& issue : issues) {
    *response->add_issues() = std::move(issue);
  }
  return grpc::Status::OK;
}

}  // namespace treatd
