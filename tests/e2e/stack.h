// The end-to-end stack: the real relayscope binaries as processes in the
// test's own network namespace, set up by one builder instead of each
// test's SetUp. A Stack writes the catalogue and token files into the
// test's dir, starts relays, collectors (SQLite in the dir, or a store URL
// such as a rig PostgreSQL) and dashboards, each stopped by its own PID,
// and hands out their addresses, paths and logs.
//
//   e2e::Stack stack(dir(), {RELAY_BINARY, COLLECTOR_BINARY, DASHBOARD_BINARY, AGENT_BINARY});
//   ASSERT_TRUE(stack.WriteCatalogue(e2e::CatalogueText("127.0.72.1")).ok());
//   ASSERT_TRUE(stack.WriteTokens("tokens", {{"agents", kToken}}).ok());
//   ASSERT_TRUE(stack.StartRelay("127.0.72.1:8200").ok());
//   auto collector = stack.StartCollector({.tokens = stack.path("tokens")});
//
// Collectors and dashboards listen on port 0 and read back the port they
// got from their ready file; a collector restarted keeps its ports, so an
// agent or a client channel keeps its address across the restart.
#ifndef TESTS_E2E_STACK_H_
#define TESTS_E2E_STACK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "relayscope/v1/ingest.pb.h"
#include "tests/rig/process.h"

namespace relayscope::e2e {

// The lower-case hex SHA-256 of `token`, as an operator makes it
// (printf %s "$TOKEN" | sha256sum).
absl::StatusOr<std::string> TokenHash(const std::string& token);

// Writes a collector token file with one "<name> <sha256-hex>" line per
// (name, token), then `extra_lines` verbatim; a rename over `path`, as
// operators and Kubernetes replace it.
absl::Status WriteTokenFile(const std::string& path,
                            const std::vector<std::pair<std::string, std::string>>& tokens,
                            const std::string& extra_lines = "");

// The real relayscope-collector.
class Collector {
 public:
  struct Options {
    std::string binary{};     // COLLECTOR_BINARY
    std::string dir{};        // ready file, log and (SQLite) store live here
    std::string catalogue{};  // path
    std::string tokens{};     // token file; empty: --allow-unauthenticated
    // Empty: SQLite in <dir>/<name>.db.
    std::string store{};
    // Names the files: <dir>/<name>.{log,ready,db}.
    std::string name = "collector";
    // Port 0: any free port, read back from the ready file.
    std::string listen = "127.0.0.1:0";
    std::string metrics = "127.0.0.1:0";
    std::vector<std::string> extra_args{};  // e.g. "--tls-cert=..."
  };
  explicit Collector(Options options) : options_(std::move(options)) {}

  // Starts it (stopping a running one first), waits for its ready file and
  // reads back its ports; a restart listens on the ports of the first
  // start. With `wait` false it returns once the process runs: call
  // WaitUntilReady() before using its addresses.
  absl::Status Start(bool wait = true);
  absl::Status WaitUntilReady();
  // SIGKILL, no goodbye; reaps it.
  void Kill();
  void Stop();
  // Replaces the extra arguments for the next Start (e.g. a restart with
  // TLS on the same store and ports).
  void set_extra_args(std::vector<std::string> extra_args) {
    options_.extra_args = std::move(extra_args);
  }
  rig::Process* process() { return process_.get(); }
  std::string db() const { return options_.dir + "/" + options_.name + ".db"; }
  std::string log() const { return options_.dir + "/" + options_.name + ".log"; }
  // host:port of the gRPC services and of /metrics, as read back.
  const std::string& address() const { return options_.listen; }
  const std::string& metrics_address() const { return options_.metrics; }
  // The gRPC port alone (0 before the first start is ready).
  uint16_t port() const;
  // GET /metrics; empty when it does not answer.
  std::string Scrape() const;
  // One value from the SQLite store: `sql` run by the sqlite3 shell on db().
  absl::StatusOr<int64_t> QueryInt(const std::string& sql) const;

 private:
  std::string ready() const { return options_.dir + "/" + options_.name + ".ready"; }

  Options options_;
  std::unique_ptr<rig::Process> process_;
};

// The real relayscope-dashboard in front of a collector.
class Dashboard {
 public:
  struct Options {
    std::string binary{};      // DASHBOARD_BINARY
    std::string dir{};         // ready file and log live here
    std::string collector{};   // host:port
    std::string token_file{};  // --collector-token-file; empty: none
    std::string name = "dashboard";
    std::string listen = "127.0.0.1:0";     // read back from the ready file
    std::vector<std::string> extra_args{};  // e.g. "--deadline=2s"
  };
  explicit Dashboard(Options options) : options_(std::move(options)) {}

  // Starts it, waits for its ready file and reads back its address.
  absl::Status Start();
  void Stop();
  rig::Process* process() { return process_.get(); }
  std::string log() const { return options_.dir + "/" + options_.name + ".log"; }
  // "http://host:port", without a trailing slash.
  std::string url() const { return "http://" + options_.listen; }

 private:
  Options options_;
  std::unique_ptr<rig::Process> process_;
};

// The binaries a stack runs: the tests' compile definitions (RELAY_BINARY,
// ...); the ones a test does not start may stay empty.
// (Every member has a default, so designated initializers may name only
// the ones a test needs: -Wmissing-field-initializers.)
struct Binaries {
  std::string relay{};
  std::string collector{};
  std::string dashboard{};
  std::string agent{};
};

// One test's stack. Everything it started is stopped, by PID, in reverse
// order on Stop() or destruction.
class Stack {
 public:
  Stack(std::string dir, Binaries binaries);
  ~Stack() { Stop(); }
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  const std::string& dir() const { return dir_; }
  // <dir>/<name>.
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // Writes the catalogue to <dir>/catalogue.textproto (or <dir>/<name>).
  absl::Status WriteCatalogue(const std::string& text,
                              const std::string& name = "catalogue.textproto");
  // Its path: what --catalogue= of every process is given.
  const std::string& catalogue() const { return catalogue_; }
  // A collector token file <dir>/<name> (see WriteTokenFile).
  absl::Status WriteTokens(const std::string& name,
                           const std::vector<std::pair<std::string, std::string>>& tokens,
                           const std::string& extra_lines = "");
  // A secret as a client reads it with --token-file: <dir>/<name>, the
  // secret and a newline.
  absl::Status WriteSecret(const std::string& name, const std::string& secret);

  // A relay listening on `listen` ("address:port", comma-separated for
  // several), with <dir>/<name>.{log,ready}; returns once it serves.
  absl::StatusOr<rig::Process*> StartRelay(const std::string& listen,
                                           std::vector<std::string> extra_args = {},
                                           const std::string& name = "relay");
  // A collector; empty binary, dir and catalogue default to the stack's.
  // With `wait` false, see Collector::Start.
  absl::StatusOr<Collector*> StartCollector(Collector::Options options, bool wait = true);
  // A dashboard; empty binary, dir and collector default to the stack's
  // (the first collector).
  absl::StatusOr<Dashboard*> StartDashboard(Dashboard::Options options);

  // The n-th started, in start order.
  rig::Process* relay(size_t n = 0) { return relays_.at(n).get(); }
  Collector* collector(size_t n = 0) { return collectors_.at(n).get(); }
  Dashboard* dashboard(size_t n = 0) { return dashboards_.at(n).get(); }

  // The real agent's argv for one diagnosis that uploads over plain text
  // to `collector` with the token in <dir>/token, keeping its spool,
  // identity and reports in the dir, with 1 s attempt and 3 s upload
  // timeouts; proxy discovery off.
  std::vector<std::string> AgentDiagnoseArgv(const Collector& collector) const;

  // Stops every process, dashboards first, then collectors, then relays.
  void Stop();

 private:
  std::string dir_;
  Binaries binaries_;
  std::string catalogue_;
  std::vector<std::unique_ptr<rig::Process>> relays_;
  std::vector<std::unique_ptr<Collector>> collectors_;
  std::vector<std::unique_ptr<Dashboard>> dashboards_;
};

// Sum of every sample of `metric` in a text exposition.
double SumMetric(const std::string& exposition, const std::string& metric);
// Number of series (sample lines) of `metric`.
int CountSeries(const std::string& exposition, const std::string& metric);

// One batch as an agent sends it: `n` attempts of session `session_id`
// with sequences first_sequence.., all to `relay` in region emea, port
// 8443, refused, started a second ago.
v1::UploadRequest MakeBatch(const std::string& agent_id, const std::string& session_id,
                            uint64_t batch_id, uint64_t first_sequence, int n,
                            const std::string& relay = "emea-1");

// The collector binary's catalogue for the tests: region emea, relay
// emea-1 at `address` on 8200 and 8443.
std::string CatalogueText(const std::string& address);

}  // namespace relayscope::e2e

#endif  // TESTS_E2E_STACK_H_
