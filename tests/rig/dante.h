// A real dante SOCKS server for tests (SOCKS5 and SOCKS4 on the same port,
// no authentication: dante 1.4 cannot check passwords from a file).
//
// Runs /usr/sbin/danted as nobody from a config in the scenario dir on a
// chosen loopback address and port; stopped by its own PID.
#ifndef TESTS_RIG_DANTE_H_
#define TESTS_RIG_DANTE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/rig/process.h"

namespace relayscope::rig {

class Dante {
 public:
  struct Options {
    std::string address = "127.0.0.1";
    uint16_t port = 1080;
    // CONNECTs to these addresses are refused by a "socks block" rule:
    // SOCKS5 reply 2, "connection not allowed by ruleset".
    std::vector<std::string> blocked_destinations;
  };

  // Writes the config into `dir` and starts danted; returns once it accepts
  // connections (at most 10 s). FAILED_PRECONDITION with its log otherwise.
  static absl::StatusOr<std::unique_ptr<Dante>> Start(const Options& options,
                                                      const std::string& dir);

  const std::string& address() const { return options_.address; }
  uint16_t port() const { return options_.port; }
  Process& process() { return *process_; }
  // dante's log (one line per connection), for asserting what it saw.
  std::string Log() const;

 private:
  Dante(Options options, std::string dir, std::unique_ptr<Process> process)
      : options_(std::move(options)), dir_(std::move(dir)), process_(std::move(process)) {}
  Options options_;
  std::string dir_;
  std::unique_ptr<Process> process_;
};

}  // namespace relayscope::rig

#endif  // TESTS_RIG_DANTE_H_
