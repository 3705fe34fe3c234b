#include "server/reloader.h"

#include <sys/stat.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/digest/sha256.h"
#include "common/intel/intel_snapshot.h"
#include "common/io/read_file.h"
#include "common/time/proto_time.h"
#include "server/logging.h"
#include "server/memory_release.h"

namespace treatd {
namespace {

void ToProto(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

void Reject(v1::SourceReload* out, absl::string_view error) {
  out->set_outcome(v1::SOURCE_RELOAD_OUTCOME_REJECTED);
  out->set_error(std::string(error));
  LogError(
      "reload rejected",
      {{"source", out->source()}, {"path", out->path()}, {"error", error}});
}

void AddMalformed(const intel::FeedIssues& issues, v1::SourceReload* out) {
  out->set_malformed_count(issues.count());
  for (const intel::FeedIssue& issue : issues.detailed()) {
    out->add_malformed(issue.ToString());
  }
  if (!issues.empty()) {
    LogWarning("feed rows skipped", {{"source", out->source()},
                                     {"path", out->path()},
                                     {"count", issues.count()}});
  }
}

}  // namespace

Reloader::Reloader(ReloadSources sources, PolicyStore* store)
    : sources_(std::move(sources)), store_(store) {}

Reloader::~Reloader() { Stop(); }

absl::StatusOr<std::unique_ptr<Reloader>> Reloader::Create(
    ReloadSources sources, PolicyStore* store) {
  auto reloader = absl::WrapUnique(new Reloader(std::move(sources), store));
  {
    absl::MutexLock lock(&reloader->mu_);
    reloader->policy_.path = reloader->sources_.policy_path;
    reloader->shadow_.path = reloader->sources_.shadow_policy_path;
    reloader->kev_source_.path = reloader->sources_.kev_path;
    reloader->epss_source_.path = reloader->sources_.epss_path;
  }
  v1::ReloadResult result = reloader->Reload("start", /*force=*/true);
  if (!result.ok()) {
    std::vector<std::string> errors;
    for (const v1::SourceReload& source : result.sources()) {
      if (source.outcome() == v1::SOURCE_RELOAD_OUTCOME_REJECTED) {
        errors.push_back(absl::StrCat(source.source(), " ", source.path(), ": ",
                                      source.error()));
      }
    }
    return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  }
  return reloader;
}

Reloader::Fingerprint Reloader::Stat(const std::string& path) {
  Fingerprint fp;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return fp;
  fp.exists = true;
  fp.mtime_ns =
      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  fp.size = static_cast<int64_t>(st.st_size);
  fp.inode = static_cast<uint64_t>(st.st_ino);
  return fp;
}

bool Reloader::LoadPolicy(const char* name, bool force, PolicySource* source,
                          v1::SourceReload* out) {
  out->set_source(name);
  out->set_path(source->path);
  // Taken before reading: a write racing with the read changes the file's
  // fingerprint again, so the poller comes back for the finished version.
  const Fingerprint fp = Stat(source->path);
  if (!force && source->policy != nullptr && fp == source->seen) {
    out->set_outcome(v1::SOURCE_RELOAD_OUTCOME_UNCHANGED);
    out->set_version(source->policy->ref().digest());
    return false;
  }
  source->seen = fp;
  absl::StatusOr<std::string> content =
      ReadFileToString(source->path, "policy");
  if (!content.ok()) {
    Reject(out, content.status().message());
    return false;
  }
  const std::string hash = Sha256Hex(*content);
  if (!force && source->policy != nullptr && hash == source->content_hash) {
    out->set_outcome(v1::SOURCE_RELOAD_OUTCOME_UNCHANGED);
    out->set_version(source->policy->ref().digest());
    return false;
  }
  std::vector<v1::PolicyIssue> issues;
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> compiled =
      CompiledPolicy::Compile(*content, source->path, &issues);
  for (v1::PolicyIssue& issue : issues) *out->add_issues() = std::move(issue);
  if (!compiled.ok()) {
    Reject(out, compiled.status().message());
    if (source->policy != nullptr) {
      out->set_version(source->policy->ref().digest());
    }
    return false;
  }
  source->policy = *std::move(compiled);
  source->content_hash = hash;
  source->loaded_at = absl::Now();
  out->set_outcome(v1::SOURCE_RELOAD_OUTCOME_LOADED);
  out->set_version(source->policy->ref().digest());
  LogInfo("policy loaded", {{"source", name},
                            {"path", source->path},
                            {"name", source->policy->ref().name()},
                            {"version", source->policy->ref().version()},
                            {"digest", source->policy->ref().digest()}});
  return true;
}

template <typename Feed>
bool Reloader::LoadFeed(const char* name, bool force, FeedSource* source,
                        std::shared_ptr<const Feed>* feed,
                        v1::SourceReload* out) {
  out->set_source(name);
  out->set_path(source->path);
  const Fingerprint fp = Stat(source->path);
  if (!force && *feed != nullptr && fp == source->seen) {
    out->set_outcome(v1::SOURCE_RELOAD_OUTCOME_UNCHANGED);
    out->set_version((*feed)->description());
    return false;
  }
  source->seen = fp;
  absl::StatusOr<std::shared_ptr<const Feed>> loaded =
      Feed::LoadFile(source->path);
  if (!loaded.ok()) {
    Reject(out, loaded.status().message());
    if (*feed != nullptr) out->set_version((*feed)->description());
    return false;
  }
  *feed = *std::move(loaded);
  out->set_outcome(v1::SOURCE_RELOAD_OUTCOME_LOADED);
  out->set_version((*feed)->description());
  AddMalformed((*feed)->malformed(), out);
  LogInfo("feed loaded",
          {{"source", name},
           {"path", source->path},
           {"version", (*feed)->description()},
           {"entries", static_cast<uint64_t>((*feed)->size())},
           {"load_ms", absl::ToDoubleMilliseconds((*feed)->load_duration())}});
  return true;
}

v1::ReloadResult Reloader::Reload(absl::string_view trigger, bool force) {
  const absl::Time start = absl::Now();
  v1::ReloadResult result;
  result.set_trigger(std::string(trigger));
  ToProtoTime(start, result.mutable_started_at());
  absl::Duration took;
  {
    absl::MutexLock lock(&mu_);
    bool changed = LoadPolicy("policy", force, &policy_, result.add_sources());
    bool intel_changed = false;
    if (!kev_source_.path.empty()) {
      intel_changed |=
          LoadFeed("kev", force, &kev_source_, &kev_, result.add_sources());
    }
    if (!epss_source_.path.empty()) {
      intel_changed |=
          LoadFeed("epss", force, &epss_source_, &epss_, result.add_sources());
    }
    if (!shadow_.path.empty()) {
      changed |=
          LoadPolicy("shadow-policy", force, &shadow_, result.add_sources());
    }
    if (intel_changed) {
      absl::StatusOr<std::shared_ptr<const intel::IntelSnapshot>> snapshot =
          intel::IntelSnapshot::Create(kev_, epss_);
      if (snapshot.ok()) {
        intel_ = *std::move(snapshot);
        changed = true;
      }
    }
    bool ok = true;
    for (const v1::SourceReload& s : result.sources()) {
      ok &= s.outcome() != v1::SOURCE_RELOAD_OUTCOME_REJECTED;
    }
    result.set_ok(ok);
    std::shared_ptr<const ActivePolicy> next;
    if (changed && policy_.policy != nullptr) {
      auto built = std::make_shared<ActivePolicy>();
      built->policy = policy_.policy;
      built->source = policy_.path;
      built->loaded_at = policy_.loaded_at;
      absl::StatusOr<std::shared_ptr<const DecisionPipeline>> pipeline =
          DecisionPipeline::Create(policy_.policy, intel_, sources_.intel);
      absl::StatusOr<std::shared_ptr<const DecisionPipeline>> shadow =
          shadow_.policy == nullptr
              ? absl::StatusOr<std::shared_ptr<const DecisionPipeline>>(nullptr)
              : DecisionPipeline::Create(shadow_.policy, intel_,
                                         sources_.intel);
      if (pipeline.ok() && shadow.ok()) {
        built->pipeline = *std::move(pipeline);
        built->shadow = *std::move(shadow);
        built->shadow_source = shadow_.path;
        next = std::move(built);
      } else {
        result.set_ok(false);
        LogError("cannot build the decision pipeline",
                 {{"error", pipeline.ok() ? shadow.status().message()
                                          : pipeline.status().message()}});
      }
    }
    const std::shared_ptr<const ActivePolicy> active =
        next != nullptr ? next : store_->Get();
    if (active != nullptr) {
      *result.mutable_active_policy() = active->policy->ref();
    }
    took = absl::Now() - start;
    ToProto(took, result.mutable_duration());
    // The snapshot and its record in one step: no reader sees the new
    // policy with the previous reload's record.
    store_->Publish(std::move(next), result);
  }
  // Loading the feeds peaks at about twice what the loaded snapshot keeps
  // (JSON and CSV parse buffers): hand the peak back at once.
  ReleaseFreeMemory();
  LogInfo("reload finished", {{"trigger", result.trigger()},
                              {"ok", result.ok()},
                              {"ms", absl::ToDoubleMilliseconds(took)},
                              {"digest", result.active_policy().digest()}});
  return result;
}

bool Reloader::AnyChanged() {
  absl::MutexLock lock(&mu_);
  if (Stat(policy_.path) != policy_.seen) return true;
  if (!shadow_.path.empty() && Stat(shadow_.path) != shadow_.seen) return true;
  if (!kev_source_.path.empty() && Stat(kev_source_.path) != kev_source_.seen)
    return true;
  return !epss_source_.path.empty() &&
         Stat(epss_source_.path) != epss_source_.seen;
}

void Reloader::StartPolling(absl::Duration interval) {
  if (interval <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&poll_mu_);
  if (poller_.joinable()) return;
  stopping_ = false;
  poller_ = std::thread([this, interval] { PollLoop(interval); });
}

void Reloader::PollLoop(absl::Duration interval) {
  while (true) {
    {
      absl::MutexLock lock(&poll_mu_);
      const absl::Time until = absl::Now() + interval;
      while (!stopping_ && absl::Now() < until) {
        poll_mu_.AwaitWithDeadline(absl::Condition(&stopping_), until);
      }
      if (stopping_) return;
    }
    if (AnyChanged()) Reload("file-change", /*force=*/false);
  }
}

void Reloader::Stop() {
  std::thread poller;
  {
    absl::MutexLock lock(&poll_mu_);
    stopping_ = true;
    poller = std::move(poller_);
  }
  if (poller.joinable()) poller.join();
}

}  // namespace treatd
