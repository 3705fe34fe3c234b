// The ledger: append throughput with group commit, and the KPI query over a
// large SQLite ledger and the same ledger on PostgreSQL.
//
//   build/bench/ledger_bench --benchmark_filter=BM_Append
//   build/bench/ledger_bench --benchmark_filter=BM_Kpis     # builds the file
//   bench/run_ledger_kpi_bench.sh    # BM_Kpis/BM_Gauges on both stores
//
// BM_Kpis and BM_Gauges need a ledger of 1,000,000 findings and 5,000,000
// events. It is built once through Ledger::Append (the real write path:
// hash chain, lifecycle, current state) into $TREATD_LEDGER_BENCH_DB
// (default /tmp/treatd-ledger-bench-<findings>.db) and reused by later runs
// (a file built by an older treatd is migrated when opened); building takes
// minutes (about 15 on a loaded 2-core VM). TREATD_LEDGER_BENCH_FINDINGS=N
// uses or builds a smaller one for a quick look.
// With TREATD_LEDGER_BENCH_PG=<libpq conninfo or URL> BM_KpisPostgres and
// BM_GaugesPostgres run the same queries on PostgreSQL. Their database is
// filled once from the SQLite file with COPY (the findings and episodes
// tables and the chain head, a minute; the events are not copied: neither
// query reads them, and PostgreSQL keeps each table in its own files) and
// reused while it holds as many events as wanted; its report is checked
// against SQLite's (counter same_as_sqlite = 1). server_cpu_ms is the CPU
// the local PostgreSQL processes used per query (/proc), the figure to
// compare on a loaded machine.
// BM_Append writes into a fresh temporary file per run, or into the
// database at $TREATD_LEDGER_BENCH_URL (e.g. a postgresql:// URL).
// TREATD_LEDGER_BENCH_SYNC=normal runs SQLite with synchronous=NORMAL.
#include <dirent.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "common/ledger/ledger.h"

namespace treatd::ledger {
namespace {

void Die(const std::string& what) {
  std::fprintf(stderr, "ledger_bench: %s\n", what.c_str());
  std::exit(1);
}

std::unique_ptr<Ledger> OpenOrDie(const std::string& url,
                                  absl::Time now = absl::Now(),
                                  int max_batch_events = 2000,
                                  const char* sqlite_synchronous = nullptr) {
  LedgerOptions options;
  options.max_batch_events = max_batch_events;
  options.url = url;
  options.clock = [now] { return now; };
  if (const char* sync = std::getenv("TREATD_LEDGER_BENCH_SYNC")) {
    options.sqlite_synchronous = sync;
  }
  if (sqlite_synchronous != nullptr) {
    options.sqlite_synchronous = sqlite_synchronous;
  }
  absl::StatusOr<std::unique_ptr<Ledger>> ledger = Ledger::Open(options);
  if (!ledger.ok()) Die(ledger.status().ToString());
  return *std::move(ledger);
}

Event Decision(const std::string& key, absl::Time at, int priority, int owner) {
  Event e;
  e.kind = EventKind::kDecision;
  e.finding_key = key;
  e.occurred_at = at;
  e.decision.decision_id = absl::StrCat(key, "@", absl::ToUnixMicros(at));
  // As the server sends them (ledger::DecisionEvent): the key names the
  // decision, so the ledger need not derive one from the content.
  e.idempotency_key =
      DecisionIdempotencyKey(/*sweep=*/false, at, e.decision.decision_id);
  e.decision.treatment = v1::TREATMENT_REMEDIATE;
  e.decision.priority = absl::StrCat("p", priority);
  e.decision.priority_rank = priority;
  e.decision.rule = "bench";
  e.decision.kind = priority % 2 ? v1::FINDING_KIND_VULNERABILITY
                                 : v1::FINDING_KIND_MISCONFIGURATION;
  e.decision.owner = absl::StrCat("team-", owner);
  e.decision.asset = absl::StrCat("id=host-", owner * 7);
  e.decision.remediate_by = at + absl::Hours(24 * 15 * priority);
  e.decision.review_by = at + absl::Hours(24 * 30);
  e.decision.residual_risk = 0.5 * priority;
  e.decision.policy_digest = "sha256:bench";
  return e;
}

// --- append throughput -----------------------------------------------------

Ledger* append_ledger = nullptr;
std::filesystem::path append_dir;
std::atomic<int64_t> append_counter{0};

// Each iteration appends `batch` decisions (a BatchDecide's worth) from
// each benchmark thread; items/s counts events. Half the events decide a
// finding again, half a new one.
void BM_Append(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  if (state.thread_index() == 0) {
    append_dir = std::filesystem::temp_directory_path() /
                 absl::StrCat("treatd-ledger-bench-", getpid());
    std::filesystem::create_directories(append_dir);
    const char* url = std::getenv("TREATD_LEDGER_BENCH_URL");
    append_ledger =
        OpenOrDie(url != nullptr ? url : (append_dir / "ledger.db").string())
            .release();
  }
  const absl::Time now = absl::Now();
  for (auto _ : state) {
    std::vector<Event> events;
    events.reserve(batch);
    for (int i = 0; i < batch; ++i) {
      int64_t n = append_counter++;
      Event e = Decision(absl::StrCat("k", n % 2 ? n : n / 2), now, 1 + n % 4,
                         n % 50);
      // One decision per event, as every Decide call makes its own.
      e.decision.decision_id = absl::StrCat("d", n);
      e.idempotency_key = absl::StrCat("decision:d", n);
      events.push_back(std::move(e));
    }
    for (const auto& r : append_ledger->Append(std::move(events))) {
      if (!r.ok()) Die(r.status().ToString());
    }
  }
  state.SetItemsProcessed(state.iterations() * batch);
  if (state.thread_index() == 0) {
    LedgerStats stats = append_ledger->Stats();
    state.counters["events_per_commit"] =
        stats.commits ? static_cast<double>(stats.events) / stats.commits : 0;
    state.counters["events"] = static_cast<double>(stats.events);
    state.counters["commit_s"] = absl::ToDoubleSeconds(stats.commit_time);
    state.counters["syncs"] = static_cast<double>(stats.syncs);
    state.counters["ms_per_sync"] =
        stats.syncs ? absl::ToDoubleMilliseconds(stats.sync_time) / stats.syncs
                    : 0;
    delete append_ledger;
    append_ledger = nullptr;
    std::error_code ignored;
    std::filesystem::remove_all(append_dir, ignored);
  }
}
BENCHMARK(BM_Append)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(100)
    ->Threads(1)
    ->Threads(8)
    ->Threads(32)
    ->UseRealTime();

// --- KPIs over a large ledger ----------------------------------------------

const absl::Time kAsOf =
    absl::FromCivil(absl::CivilDay(2026, 7, 1), absl::UTCTimeZone());

// Five events per finding over the year before kAsOf: decisions, then an
// outcome path chosen at random (remediated 55 %, mitigated then remediated
// 15 %, mitigated and open 10 %, accepted 5 %, false positive 5 %, open
// 10 %); 2 % of the remediated ones come back (a recurrence).
std::vector<Event> FindingHistory(int64_t i, std::mt19937_64& rng) {
  auto day = [](double d) { return absl::Hours(24) * d; };
  std::uniform_real_distribution<double> unit(0, 1);
  const std::string key = absl::StrCat("finding-", i);
  const int priority = 1 + static_cast<int>(rng() % 4);
  const int owner = static_cast<int>(rng() % 40);
  const absl::Time opened = kAsOf - day(1 + 364 * unit(rng));
  const double span = std::max(0.1, absl::ToDoubleHours(kAsOf - opened) / 24);
  auto at = [&](double fraction) { return opened + day(span * fraction); };

  // What happens after the first decisions, in time order.
  std::vector<Event> later;
  auto outcome = [&](EventKind kind, double fraction) {
    Event e;
    e.kind = kind;
    e.finding_key = key;
    e.occurred_at = at(fraction);
    e.actor = "bench";
    if (kind == EventKind::kAccepted) e.until = e.occurred_at + day(90);
    later.push_back(std::move(e));
  };
  const double path = unit(rng);
  if (path < 0.55) {
    outcome(EventKind::kRemediated, 0.2 + 0.6 * unit(rng));
    if (unit(rng) < 0.02) {  // seen again after the fix: a recurrence
      later.push_back(Decision(key, at(0.95), priority, owner));
    }
  } else if (path < 0.70) {
    outcome(EventKind::kMitigated, 0.1);
    outcome(EventKind::kRemediated, 0.3 + 0.6 * unit(rng));
  } else if (path < 0.80) {
    outcome(EventKind::kMitigated, 0.1 + 0.2 * unit(rng));
  } else if (path < 0.85) {
    outcome(EventKind::kAccepted, 0.2);
  } else if (path < 0.90) {
    outcome(EventKind::kFalsePositive, 0.3);
  }
  // Re-decisions (each scan decides the finding again) fill up to five
  // events, before the outcomes.
  std::vector<Event> events;
  events.push_back(Decision(key, opened, priority, owner));
  while (events.size() + later.size() < 5) {
    events.push_back(Decision(key, at(0.01 * events.size()), priority, owner));
  }
  for (Event& e : later) events.push_back(std::move(e));
  return events;
}

int64_t BenchFindings() {
  const char* env = std::getenv("TREATD_LEDGER_BENCH_FINDINGS");
  return env != nullptr ? std::atoll(env) : 1000000;
}

// Named after its size, so a smaller or partly built file is never taken
// for the 1M one.
std::string BenchDbPath() {
  const char* env = std::getenv("TREATD_LEDGER_BENCH_DB");
  return env != nullptr ? env
                        : absl::StrCat("/tmp/treatd-ledger-bench-",
                                       BenchFindings(), ".db");
}

// Builds the file when it is absent (or has fewer events than wanted).
Ledger& KpiLedger() {
  static Ledger* ledger = [] {
    const std::string path = BenchDbPath();
    const int64_t findings = BenchFindings();
    // Large transactions, synchronous=NORMAL: building the fixture is not
    // what is measured. A file built by an older treatd is migrated here.
    const absl::Time open_start = absl::Now();
    std::unique_ptr<Ledger> opened =
        OpenOrDie(path, kAsOf + absl::Hours(24), /*max_batch_events=*/20000,
                  /*sqlite_synchronous=*/"normal");
    std::fprintf(stderr, "ledger_bench: %s opened in %.1f s\n", path.c_str(),
                 absl::ToDoubleSeconds(absl::Now() - open_start));
    absl::StatusOr<LedgerGauges> gauges = opened->Gauges(kAsOf);
    if (!gauges.ok()) Die(gauges.status().ToString());
    if (gauges->events >= findings * 5) return opened.release();
    if (gauges->events > 0) Die(path + " is partly built; delete it");
    std::fprintf(stderr, "ledger_bench: building %s (%lld findings)...\n",
                 path.c_str(), static_cast<long long>(findings));
    const absl::Time start = absl::Now();
    std::mt19937_64 rng(20260701);
    std::vector<Event> pending;
    for (int64_t i = 0; i < findings; ++i) {
      for (Event& e : FindingHistory(i, rng)) pending.push_back(std::move(e));
      if (pending.size() >= 20000 || i + 1 == findings) {
        for (const auto& r : opened->Append(std::move(pending))) {
          if (!r.ok()) Die(r.status().ToString());
        }
        pending.clear();
      }
    }
    std::fprintf(stderr, "ledger_bench: built in %.0f s\n",
                 absl::ToDoubleSeconds(absl::Now() - start));
    return opened.release();
  }();
  return *ledger;
}

// --- the same ledger on PostgreSQL ----------------------------------------

void CheckPg(PGconn* conn, PGresult* result, const std::string& what) {
  const ExecStatusType status = PQresultStatus(result);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK &&
      status != PGRES_COPY_IN) {
    Die(absl::StrCat(what, ": ", PQerrorMessage(conn)));
  }
  PQclear(result);
}

// Appends `value` to a COPY text line, escaped.
void AppendCopyText(const char* value, int size, std::string* line) {
  for (int i = 0; i < size; ++i) {
    const char c = value[i];
    if (c == '\\') {
      line->append("\\\\");
    } else if (c == '\t') {
      line->append("\\t");
    } else if (c == '\n') {
      line->append("\\n");
    } else if (c == '\r') {
      line->append("\\r");
    } else {
      line->push_back(c);
    }
  }
}

// Copies `table` (these columns) from the SQLite file into PostgreSQL with
// COPY, in the text format: integers and text as they are, reals with 17
// digits (they round-trip), NULL as \N.
void CopyTable(sqlite3* db, PGconn* pg, const std::string& table,
               const std::string& columns) {
  sqlite3_stmt* stmt = nullptr;
  const std::string select = absl::StrCat("SELECT ", columns, " FROM ", table);
  if (sqlite3_prepare_v2(db, select.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    Die(absl::StrCat(select, ": ", sqlite3_errmsg(db)));
  }
  CheckPg(
      pg,
      PQexec(
          pg,
          absl::StrCat("COPY ", table, " (", columns, ") FROM STDIN").c_str()),
      "COPY " + table);
  std::string buffer;
  int64_t rows = 0;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const int n = sqlite3_column_count(stmt);
    for (int i = 0; i < n; ++i) {
      if (i > 0) buffer.push_back('\t');
      switch (sqlite3_column_type(stmt, i)) {
        case SQLITE_NULL:
          buffer.append("\\N");
          break;
        case SQLITE_INTEGER:
          absl::StrAppend(&buffer, sqlite3_column_int64(stmt, i));
          break;
        case SQLITE_FLOAT: {
          char text[32];
          std::snprintf(text, sizeof(text), "%.17g",
                        sqlite3_column_double(stmt, i));
          buffer.append(text);
          break;
        }
        default:
          AppendCopyText(static_cast<const char*>(sqlite3_column_blob(stmt, i)),
                         sqlite3_column_bytes(stmt, i), &buffer);
      }
    }
    buffer.push_back('\n');
    ++rows;
    if (buffer.size() > (1 << 20)) {
      if (PQputCopyData(pg, buffer.data(), static_cast<int>(buffer.size())) !=
          1) {
        Die(absl::StrCat("COPY ", table, ": ", PQerrorMessage(pg)));
      }
      buffer.clear();
    }
  }
  if (rc != SQLITE_DONE) Die(absl::StrCat(table, ": ", sqlite3_errmsg(db)));
  sqlite3_finalize(stmt);
  if ((!buffer.empty() &&
       PQputCopyData(pg, buffer.data(), static_cast<int>(buffer.size())) !=
           1) ||
      PQputCopyEnd(pg, nullptr) != 1) {
    Die(absl::StrCat("COPY ", table, ": ", PQerrorMessage(pg)));
  }
  CheckPg(pg, PQgetResult(pg), "COPY " + table);
  while (PGresult* rest = PQgetResult(pg)) PQclear(rest);
  std::fprintf(stderr, "ledger_bench: copied %lld rows of %s\n",
               static_cast<long long>(rows), table.c_str());
}

// Fills the (freshly migrated, empty) PostgreSQL ledger at `conninfo` from
// the SQLite file: the tables the KPI and gauge queries read, and the
// chain head.
void LoadPostgresFixture(const std::string& conninfo) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(BenchDbPath().c_str(), &db, SQLITE_OPEN_READONLY,
                      nullptr) != SQLITE_OK) {
    Die(absl::StrCat(BenchDbPath(), ": ", sqlite3_errmsg(db)));
  }
  PGconn* pg = PQconnectdb(conninfo.c_str());
  if (PQstatus(pg) != CONNECTION_OK) Die(PQerrorMessage(pg));
  CopyTable(db, pg, "findings",
            "finding_key, state, kind, owner, asset, vulnerability, priority, "
            "priority_rank, treatment, rule, decision_id, policy_digest, "
            "first_seen_us, opened_us, state_us, updated_us, mitigated_us, "
            "accepted_us, closed_us, mitigate_by_us, remediate_by_us, "
            "review_by_us, accepted_until_us, residual_risk, recurrences, "
            "episode, last_seq");
  CopyTable(db, pg, "episodes",
            "finding_key, episode, state, kind, owner, priority, opened_us, "
            "mitigated_us, accepted_us, closed_us, remediate_by_us, "
            "review_by_us, residual_risk, reopened_us");
  sqlite3_stmt* head = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT seq, hash FROM chain_head", -1, &head,
                         nullptr) != SQLITE_OK ||
      sqlite3_step(head) != SQLITE_ROW) {
    Die(absl::StrCat("chain_head: ", sqlite3_errmsg(db)));
  }
  CheckPg(pg,
          PQexec(pg, absl::StrCat("UPDATE chain_head SET seq = ",
                                  sqlite3_column_int64(head, 0), ", hash = '",
                                  reinterpret_cast<const char*>(
                                      sqlite3_column_text(head, 1)),
                                  "'")
                         .c_str()),
          "chain_head");
  sqlite3_finalize(head);
  sqlite3_close(db);
  // Statistics and the visibility map (index-only scans), as autovacuum
  // would leave them on a ledger that has been running.
  CheckPg(pg, PQexec(pg, "VACUUM ANALYZE"), "VACUUM ANALYZE");
  PQfinish(pg);
}

// The PostgreSQL ledger at $TREATD_LEDGER_BENCH_PG, filled from the SQLite
// file (built first when absent) unless it already holds it.
Ledger& PostgresKpiLedger() {
  static Ledger* ledger = [] {
    const char* conninfo = std::getenv("TREATD_LEDGER_BENCH_PG");
    std::string url = conninfo;
    if (url.rfind("postgres", 0) != 0) url = absl::StrCat("postgresql:", url);
    std::unique_ptr<Ledger> opened = OpenOrDie(url, kAsOf + absl::Hours(24));
    absl::StatusOr<LedgerGauges> gauges = opened->Gauges(kAsOf);
    if (!gauges.ok()) Die(gauges.status().ToString());
    if (gauges->events >= BenchFindings() * 5) return opened.release();
    if (gauges->events > 0) {
      Die(absl::StrCat(conninfo, " holds another ledger; drop its database"));
    }
    absl::StatusOr<LedgerGauges> sqlite = KpiLedger().Gauges(kAsOf);
    if (!sqlite.ok()) Die(sqlite.status().ToString());
    std::fprintf(stderr, "ledger_bench: filling %s from %s...\n", conninfo,
                 BenchDbPath().c_str());
    const absl::Time start = absl::Now();
    LoadPostgresFixture(conninfo);
    std::fprintf(stderr, "ledger_bench: filled in %.0f s\n",
                 absl::ToDoubleSeconds(absl::Now() - start));
    return opened.release();
  }();
  return *ledger;
}

// CPU time (user + system) of each of this machine's PostgreSQL server
// processes so far, by pid, from /proc.
using CpuByPid = std::map<std::string, double>;
CpuByPid PostgresCpu() {
  CpuByPid cpu;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return cpu;
  while (struct dirent* entry = readdir(proc)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    std::ifstream in(absl::StrCat("/proc/", entry->d_name, "/stat"));
    std::string stat;
    std::getline(in, stat);
    // pid (comm) state ... utime stime: fields 14 and 15.
    const size_t comm_end = stat.rfind(')');
    if (comm_end == std::string::npos ||
        stat.find("(postgres)") == std::string::npos) {
      continue;
    }
    std::istringstream fields(stat.substr(comm_end + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i >= 14) ticks += std::atof(field.c_str());
    }
    cpu[entry->d_name] = ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  closedir(proc);
  return cpu;
}

// Milliseconds of server CPU since `before`, per iteration: processes
// that started since count from zero; those that ended are lost (the pooled
// connections the ledger queries on stay).
double ServerCpuMsPerIteration(const CpuByPid& before,
                               const benchmark::State& state) {
  double seconds = 0;
  for (const auto& [pid, cpu] : PostgresCpu()) {
    auto it = before.find(pid);
    seconds += cpu - (it == before.end() ? 0 : it->second);
  }
  return seconds * 1000 / static_cast<double>(state.iterations());
}

KpiQuery BenchKpiQuery(int window_days) {
  KpiQuery query;
  query.as_of = kAsOf;
  query.window = absl::Hours(24 * window_days);
  query.group_by = {KpiGroupBy::kPriority, KpiGroupBy::kKind};
  return query;
}

// What is measured. google-benchmark 1.7's MinWarmUpTime did not run a
// warm-up query here (the first timed query was the server's first after
// it started: 2.7 s on a quiet machine against 1.0 s for the next one,
// PostgreSQL reading the index into an empty shared_buffers), so the
// warm-up is explicit:
// - BM_Kpis / BM_KpisPostgres (warm): one untimed query per store and
//   window first, then three timed ones (their mean) — a dashboard or
//   `treatctl ledger kpi` against a running server, whose database pages
//   are in the database's cache;
// - BM_KpisCold / BM_KpisPostgresCold: a single query, the first this
//   process makes on the store (registered first, so they run before the
//   others): for PostgreSQL right after run_ledger_kpi_bench.sh started the
//   server, shared_buffers empty; the OS page cache is as the last run
//   left it (not dropped: the machine is shared).
void RunKpis(benchmark::State& state, Ledger& ledger, bool postgres,
             bool cold) {
  const KpiQuery query = BenchKpiQuery(static_cast<int>(state.range(0)));
  if (!cold) {
    static auto* warmed = new std::set<std::pair<Ledger*, int64_t>>;
    if (warmed->insert({&ledger, state.range(0)}).second) {
      absl::StatusOr<KpiReport> report = ledger.Kpis(query);
      if (!report.ok()) Die(report.status().ToString());
    }
  }
  KpiReport last;
  const CpuByPid server_cpu = postgres ? PostgresCpu() : CpuByPid();
  for (auto _ : state) {
    absl::StatusOr<KpiReport> report = ledger.Kpis(query);
    if (!report.ok()) Die(report.status().ToString());
    last = *std::move(report);
    benchmark::DoNotOptimize(last);
  }
  if (postgres) {
    state.counters["server_cpu_ms"] =
        ServerCpuMsPerIteration(server_cpu, state);
    absl::StatusOr<KpiReport> sqlite = KpiLedger().Kpis(query);
    if (!sqlite.ok()) Die(sqlite.status().ToString());
    state.counters["same_as_sqlite"] = SameFigures(last, *sqlite) ? 1 : 0;
  }
  absl::StatusOr<LedgerGauges> gauges = ledger.Gauges(kAsOf);
  if (!gauges.ok()) Die(gauges.status().ToString());
  state.counters["events"] = static_cast<double>(gauges->events);
  state.counters["open"] = static_cast<double>(last.total.open);
}

void BM_Kpis(benchmark::State& state) {
  RunKpis(state, KpiLedger(), /*postgres=*/false, /*cold=*/false);
}
void BM_KpisCold(benchmark::State& state) {
  RunKpis(state, KpiLedger(), /*postgres=*/false, /*cold=*/true);
}
void BM_KpisPostgres(benchmark::State& state) {
  RunKpis(state, PostgresKpiLedger(), /*postgres=*/true, /*cold=*/false);
}
void BM_KpisPostgresCold(benchmark::State& state) {
  RunKpis(state, PostgresKpiLedger(), /*postgres=*/true, /*cold=*/true);
}
void KpiArgs(benchmark::internal::Benchmark* b) {
  b->ArgName("window_days")
      ->Arg(90)
      ->Arg(365)
      ->Iterations(3)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}
// One query, 90 days (the window a dashboard shows by default).
void ColdArgs(benchmark::internal::Benchmark* b) {
  b->ArgName("window_days")
      ->Arg(90)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}

void RunGauges(benchmark::State& state, Ledger& ledger, bool postgres) {
  const CpuByPid server_cpu = postgres ? PostgresCpu() : CpuByPid();
  for (auto _ : state) {
    absl::StatusOr<LedgerGauges> gauges = ledger.Gauges(kAsOf);
    if (!gauges.ok()) Die(gauges.status().ToString());
    benchmark::DoNotOptimize(gauges);
  }
  if (postgres) {
    state.counters["server_cpu_ms"] =
        ServerCpuMsPerIteration(server_cpu, state);
  }
}
void BM_Gauges(benchmark::State& state) {
  RunGauges(state, KpiLedger(), /*postgres=*/false);
}
void BM_GaugesPostgres(benchmark::State& state) {
  RunGauges(state, PostgresKpiLedger(), /*postgres=*/true);
}

}  // namespace
}  // namespace treatd::ledger

int main(int argc, char** argv) {
  namespace ledger = treatd::ledger;
  // In this order: the cold runs first (the first query of the process on
  // each store). The PostgreSQL twins exist only with a database to run
  // them on.
  const bool postgres = std::getenv("TREATD_LEDGER_BENCH_PG") != nullptr;
  benchmark::RegisterBenchmark("BM_KpisCold", ledger::BM_KpisCold)
      ->Apply(ledger::ColdArgs);
  if (postgres) {
    benchmark::RegisterBenchmark("BM_KpisPostgresCold",
                                 ledger::BM_KpisPostgresCold)
        ->Apply(ledger::ColdArgs);
  }
  benchmark::RegisterBenchmark("BM_Kpis", ledger::BM_Kpis)
      ->Apply(ledger::KpiArgs);
  if (postgres) {
    benchmark::RegisterBenchmark("BM_KpisPostgres", ledger::BM_KpisPostgres)
        ->Apply(ledger::KpiArgs);
  }
  benchmark::RegisterBenchmark("BM_Gauges", ledger::BM_Gauges)
      ->MinWarmUpTime(0.1)
      ->Unit(benchmark::kMillisecond);
  if (postgres) {
    benchmark::RegisterBenchmark("BM_GaugesPostgres", ledger::BM_GaugesPostgres)
        ->MinWarmUpTime(0.1)
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
