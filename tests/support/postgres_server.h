// A throwaway PostgreSQL server for tests: initdb into a fresh temporary
// directory, pg_ctl start listening on a unix socket inside it only (no TCP
// port, so nothing to collide with), pg_ctl stop and delete at the end.
// Uses the Debian `postgresql` binaries (/usr/lib/postgresql/<v>/bin, or
// $TREATD_TEST_PG_BIN). initdb refuses to run as root, so as root every
// server command runs as the `postgres` user through runuser(1).
//
//   std::string why;
//   auto pg = PostgresServer::Start(&why);
//   if (pg == nullptr) GTEST_SKIP() << why;      // binaries absent
//   std::string url = pg->CreateDatabase("ledger_a");   // libpq conninfo
//
// Header-only; not thread-safe (one instance per test fixture). Every wait
// is bounded (pg_ctl -t).
#ifndef TREATD_TESTS_SUPPORT_POSTGRES_SERVER_H_
#define TREATD_TESTS_SUPPORT_POSTGRES_SERVER_H_

#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace treatd::testing {

struct PostgresServerOptions {
  // fsync off makes tests fast; benchmarks that measure PostgreSQL
  // durability turn it on.
  bool fsync = false;
  int max_connections = 100;
};

class PostgresServer {
 public:
  using Options = PostgresServerOptions;

  // Starts a server. Returns nullptr with the reason in *why when the
  // PostgreSQL binaries (or, as root, the postgres user) are absent — the
  // caller skips — or when the server fails to start (the reason includes
  // the server log's tail; the caller should fail).
  static std::unique_ptr<PostgresServer> Start(
      std::string* why, Options options = PostgresServerOptions()) {
    std::string bin = FindBinDir();
    if (bin.empty()) {
      *why =
          "PostgreSQL server binaries not found (Debian package postgresql; "
          "scripts/setup.sh installs it, or set TREATD_TEST_PG_BIN)";
      return nullptr;
    }
    auto server = std::unique_ptr<PostgresServer>(new PostgresServer);
    server->bin_ = bin;
    server->options_ = options;
    if (geteuid() == 0) {
      struct passwd* pw = getpwnam("postgres");
      if (pw == nullptr) {
        *why = "running as root and there is no 'postgres' user to run initdb";
        return nullptr;
      }
      server->uid_ = pw->pw_uid;
      server->gid_ = pw->pw_gid;
      server->as_postgres_ = true;
    }
    char dir[] = "/tmp/treatd-pg-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      *why = "mkdtemp failed";
      return nullptr;
    }
    server->dir_ = dir;
    if (server->as_postgres_ && chown(dir, server->uid_, server->gid_) != 0) {
      *why = "chown of the temporary directory to postgres failed";
      return nullptr;
    }
    std::string failure = server->InitAndStart();
    if (!failure.empty()) {
      *why = failure;
      return nullptr;
    }
    return server;
  }

  ~PostgresServer() {
    Stop();
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

  // Key/value libpq conninfo for `database` on this server (socket in the
  // temporary directory, user postgres, trust authentication).
  std::string ConnInfo(const std::string& database = "postgres") const {
    return "host=" + dir_ + " port=5432 user=postgres dbname=" + database +
           " connect_timeout=5";
  }

  // The same as a URI ("postgresql://postgres@/db?host=/tmp/...").
  std::string Uri(const std::string& database = "postgres") const {
    return "postgresql://postgres@/" + database + "?host=" + dir_ +
           "&port=5432";
  }

  // Creates `database` and returns its ConnInfo, or "" on failure.
  std::string CreateDatabase(const std::string& database) {
    if (!Execute("CREATE DATABASE " + database)) return "";
    return ConnInfo(database);
  }

  // Runs one SQL statement on the `postgres` database (or `database`).
  bool Execute(const std::string& sql,
               const std::string& database = "postgres") {
    PGconn* conn = PQconnectdb(ConnInfo(database).c_str());
    bool ok = PQstatus(conn) == CONNECTION_OK;
    if (ok) {
      PGresult* result = PQexec(conn, sql.c_str());
      ExecStatusType status = PQresultStatus(result);
      ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
      PQclear(result);
    }
    PQfinish(conn);
    return ok;
  }

  // Stops the server now (connections see it as down); Restart() brings it
  // back on the same directory and socket. True on success.
  bool Stop() {
    if (!running_) return true;
    running_ = false;
    return Run({bin_ + "/pg_ctl", "-D", data_dir(), "-m", "immediate", "-w",
                "-t", "30", "stop"}) == 0;
  }
  bool Restart() {
    if (running_) return true;
    return StartServer().empty();
  }

  const std::string& directory() const { return dir_; }
  std::string data_dir() const { return dir_ + "/data"; }

 private:
  PostgresServer() = default;

  static std::string FindBinDir() {
    if (const char* env = std::getenv("TREATD_TEST_PG_BIN")) {
      return access((std::string(env) + "/initdb").c_str(), X_OK) == 0 ? env
                                                                       : "";
    }
    glob_t found;
    std::string best;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, nullptr, &found) == 0) {
      for (size_t i = 0; i < found.gl_pathc; ++i) {
        std::string path = found.gl_pathv[i];
        std::string dir = path.substr(0, path.size() - strlen("/initdb"));
        if (access((dir + "/pg_ctl").c_str(), X_OK) == 0) best = dir;
      }
    }
    globfree(&found);
    return best;
  }

  std::string InitAndStart() {
    if (Run({bin_ + "/initdb", "-D", data_dir(), "-U", "postgres", "-A",
             "trust", "-E", "UTF8", "--no-sync", "--no-instructions"}) != 0) {
      return "initdb failed: " + LogTail();
    }
    return StartServer();
  }

  std::string StartServer() {
    std::string server_options =
        "-k " + dir_ +
        " -c listen_addresses='' -c fsync=" + (options_.fsync ? "on" : "off") +
        " -c max_connections=" + std::to_string(options_.max_connections);
    if (Run({bin_ + "/pg_ctl", "-D", data_dir(), "-l", dir_ + "/server.log",
             "-w", "-t", "30", "-o", server_options, "start"}) != 0) {
      return "pg_ctl start failed: " + LogTail();
    }
    running_ = true;
    return "";
  }

  // Runs argv (as postgres when root), output appended to setup.log.
  // Returns the exit status (or -1).
  int Run(const std::vector<std::string>& argv) {
    std::string log = dir_ + "/setup.log";
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
      }
      if (as_postgres_ && (setgid(gid_) != 0 || setuid(uid_) != 0)) _exit(126);
      std::vector<char*> args;
      for (const std::string& arg : argv) {
        args.push_back(const_cast<char*>(arg.c_str()));
      }
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string LogTail() const {
    std::string text;
    for (const char* name : {"/setup.log", "/server.log"}) {
      std::ifstream in(dir_ + name);
      std::stringstream buffer;
      buffer << in.rdbuf();
      text += buffer.str();
    }
    return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
  }

  std::string bin_;
  std::string dir_;
  Options options_;
  bool as_postgres_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  bool running_ = false;
};

}  // namespace treatd::testing

#endif  // TREATD_TESTS_SUPPORT_POSTGRES_SERVER_H_
