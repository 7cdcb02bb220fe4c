#include "tests/rig/postgres.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/support/wait_until.h"

namespace relayscope::rig {
namespace {

namespace fs = std::filesystem;

// A port nobody listens on now (the kernel's pick for a bound socket).
absl::StatusOr<uint16_t> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (!ok) return absl::InternalError("cannot find a free loopback port");
  return ntohs(addr.sin_port);
}

absl::Status ChownTree(const fs::path& root, uid_t uid, gid_t gid) {
  std::error_code ec;
  if (chown(root.c_str(), uid, gid) != 0) {
    return absl::InternalError(absl::StrCat("chown ", root.string(), " failed"));
  }
  for (const auto& entry : fs::recursive_directory_iterator(root, ec)) {
    if (chown(entry.path().c_str(), uid, gid) != 0) {
      return absl::InternalError(absl::StrCat("chown ", entry.path().string(), " failed"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> Postgres::FindBinDir() {
  std::vector<fs::path> versions;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    if (fs::exists(entry.path() / "bin" / "postgres")) versions.push_back(entry.path() / "bin");
  }
  if (!versions.empty()) {
    // Numeric order: 9.6 < 15 < 16.
    std::sort(versions.begin(), versions.end(), [](const fs::path& a, const fs::path& b) {
      return std::stod(a.parent_path().filename().string()) <
             std::stod(b.parent_path().filename().string());
    });
    return versions.back().string();
  }
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "", ':')) {
    if (!dir.empty() && fs::exists(fs::path(std::string(dir)) / "postgres"))
      return std::string(dir);
  }
  return absl::NotFoundError(
      "PostgreSQL server binaries not found: install the postgresql package (deploy/dev/deps.sh)");
}

absl::StatusOr<std::unique_ptr<Postgres>> Postgres::Start(const std::string& dir, uint16_t port) {
  auto bin = FindBinDir();
  if (!bin.ok()) return bin.status();
  if (port == 0) {
    auto free_port = FreeLoopbackPort();
    if (!free_port.ok()) return free_port.status();
    port = *free_port;
  }
  const fs::path root = fs::path(dir) / "postgres";
  const fs::path data = root / "data";
  const fs::path sockets = root / "run";
  fs::create_directories(sockets);
  const bool as_root = geteuid() == 0;
  // PostgreSQL refuses to run as root: as root, the cluster belongs to
  // nobody (who must be able to reach it through `dir`).
  std::vector<std::string> prefix;
  if (as_root) {
    fs::permissions(dir, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    if (absl::Status s = ChownTree(root, NobodyUid(), NogroupGid()); !s.ok()) return s;
    prefix = {"/usr/bin/setpriv", absl::StrCat("--reuid=", NobodyUid()),
              absl::StrCat("--regid=", NogroupGid()), "--clear-groups", "--"};
  }
  std::vector<std::string> initdb = prefix;
  for (const std::string& arg :
       {*bin + "/initdb", std::string("-D"), data.string(), std::string("-U"),
        std::string("relayscope"), std::string("-A"), std::string("trust"), std::string("-E"),
        std::string("UTF8"), std::string("--no-locale"), std::string("--no-sync")}) {
    initdb.push_back(arg);
  }
  auto init = RunCommand(initdb, absl::Seconds(60));
  if (!init.ok()) return init.status();
  if (init->exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat("initdb failed: ", init->output));
  }
  Process::Options options;
  options.argv = {*bin + "/postgres", "-D", data.string(), "-p", absl::StrCat(port), "-k",
                  sockets.string(), "-c", "listen_addresses=127.0.0.1", "-c", "shared_buffers=32MB",
                  "-c", "max_connections=200",
                  // A test server: the data dies with the test anyway.
                  "-c", "fsync=off", "-c", "full_page_writes=off"};
  options.log_path = (root / "postgres.log").string();
  options.as_nobody = as_root;
  auto process = Process::Start(options);
  if (!process.ok()) return process.status();
  std::unique_ptr<Postgres> server(new Postgres(port, *std::move(process)));
  // The port opens before recovery ends; wait for a real connection.
  if (absl::Status s = WaitForPort("127.0.0.1", port, absl::Seconds(30), &server->process());
      !s.ok()) {
    return s;
  }
  const std::string url = server->Url("postgres");
  if (!test::WaitUntil([&] { return PQping(url.c_str()) == PQPING_OK; }, absl::Seconds(30),
                       absl::Milliseconds(50))) {
    return absl::DeadlineExceededError(
        absl::StrCat("PostgreSQL did not accept connections: ", server->process().LogTail()));
  }
  return server;
}

Postgres::~Postgres() {
  // SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every
  // client to leave); Stop() then reaps it, or kills the group.
  if (process_->Running()) {
    kill(process_->pid(), SIGINT);
    test::WaitUntil([&] { return !process_->Running(); }, absl::Seconds(10),
                    absl::Milliseconds(50));
  }
  process_->Stop();
}

std::string Postgres::Url(const std::string& database) const {
  return absl::StrCat("postgresql://relayscope@127.0.0.1:", port_, "/", database);
}

absl::Status Postgres::Execute(const std::string& database, const std::string& sql) {
  return QueryValue(database, sql).status();
}

absl::StatusOr<std::string> Postgres::QueryValue(const std::string& database,
                                                 const std::string& sql) {
  PGconn* conn = PQconnectdb(Url(database).c_str());
  absl::StatusOr<std::string> value;
  if (PQstatus(conn) != CONNECTION_OK) {
    value = absl::UnavailableError(PQerrorMessage(conn));
  } else {
    PGresult* result = PQexec(conn, sql.c_str());
    const ExecStatusType code = PQresultStatus(result);
    if (code != PGRES_COMMAND_OK && code != PGRES_TUPLES_OK) {
      value = absl::InternalError(absl::StrCat(sql, ": ", PQresultErrorMessage(result)));
    } else {
      value = PQntuples(result) > 0 && PQnfields(result) > 0 ? PQgetvalue(result, 0, 0) : "";
    }
    PQclear(result);
  }
  PQfinish(conn);
  return value;
}

absl::StatusOr<std::string> Postgres::CreateDatabase(const std::string& name) {
  if (absl::Status s = Execute("postgres", absl::StrCat("CREATE DATABASE \"", name, "\""));
      !s.ok()) {
    return s;
  }
  return Url(name);
}

}  // namespace relayscope::rig
