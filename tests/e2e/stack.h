// Shared pieces of the end-to-end tests that run the real collector: start
// and restart it on one SQLite store, write token files, scrape and count
// its metrics, read the store back, and build ingest batches the way an
// agent does.
#ifndef TESTS_E2E_STACK_H_
#define TESTS_E2E_STACK_H_

#include <cstdint>
#include <memory>
#include <string>
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

// The real relayscope-collector on a SQLite store in `dir`.
class Collector {
 public:
  struct Options {
    std::string binary;     // COLLECTOR_BINARY
    std::string dir;        // store, ready file and log live here
    std::string catalogue;  // path
    std::string tokens;     // token file; empty: --allow-unauthenticated
    std::string listen = "127.0.0.1:50051";
    std::string metrics = "127.0.0.1:9465";
    std::vector<std::string> extra_args;  // e.g. "--tls-cert=..."
  };
  explicit Collector(Options options) : options_(std::move(options)) {}

  // Starts it (stopping a running one first) and waits for its ready file.
  absl::Status Start();
  // SIGKILL, no goodbye; reaps it.
  void Kill();
  void Stop();
  rig::Process* process() { return process_.get(); }
  std::string db() const { return options_.dir + "/collector.db"; }
  std::string log() const { return options_.dir + "/collector.log"; }
  const std::string& address() const { return options_.listen; }
  // GET /metrics; empty when it does not answer.
  std::string Scrape() const;
  // One value from the store: `sql` run by the sqlite3 shell on db().
  absl::StatusOr<int64_t> QueryInt(const std::string& sql) const;

 private:
  Options options_;
  std::unique_ptr<rig::Process> process_;
};

// Sum of every sample of `metric` in a text exposition.
double SumMetric(const std::string& exposition, const std::string& metric);
// Number of series (sample lines) of `metric`.
int CountSeries(const std::string& exposition, const std::string& metric);

// One batch as an agent sends it: `n` attempts of session `session_id`
// with sequences first_sequence.., all to `relay` in region emea, port 8443.
v1::UploadRequest MakeBatch(const std::string& agent_id, const std::string& session_id,
                            uint64_t batch_id, uint64_t first_sequence, int n,
                            const std::string& relay = "emea-1");

// The real agent's argv for one diagnosis that uploads to a plain-text
// collector at 127.0.0.1:50051 with the token in <dir>/token, keeping its
// spool, identity and reports in `dir`, with 1 s attempt and 3 s upload
// timeouts; proxy discovery off.
std::vector<std::string> AgentDiagnoseArgv(const std::string& binary, const std::string& dir,
                                           const std::string& catalogue);

// The reference relay (`binary`) listening on `listen` ("address:port",
// comma-separated for several), with `extra_args`; its log and ready file
// are <dir>/relay.{log,ready}. Returns once it serves.
absl::StatusOr<std::unique_ptr<rig::Process>> StartRelay(const std::string& binary,
                                                         const std::string& dir,
                                                         const std::string& listen,
                                                         std::vector<std::string> extra_args = {});

// The collector binary's catalogue for the tests: region emea, relay
// emea-1 at `address` on 8200 and 8443.
std::string CatalogueText(const std::string& address);

}  // namespace relayscope::e2e

#endif  // TESTS_E2E_STACK_H_
