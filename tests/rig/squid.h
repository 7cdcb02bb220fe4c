// A real squid forward proxy for tests: open, requiring Basic auth (407
// until the credentials are right) or NTLM only, and/or answering 302 to
// CONNECT for chosen ports, as the seed's proxies did; plain HTTP or, with
// a certificate, an HTTPS proxy.
//
// Runs `squid -N` as nobody from a config in the scenario dir, on a chosen
// loopback address and port, without a cache; stopped by its own PID.
#ifndef TESTS_RIG_SQUID_H_
#define TESTS_RIG_SQUID_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/rig/process.h"

namespace relayscope::rig {

class Squid {
 public:
  struct Options {
    std::string address = "127.0.0.1";
    uint16_t port = 3128;
    // user -> password; when not empty every request needs Basic auth.
    std::map<std::string, std::string> users;
    // CONNECT to these ports is answered "302 Found" (squid deny_info 302:).
    std::vector<uint16_t> redirect_ports;
    std::string redirect_url = "http://127.0.0.1/blocked.html";
    // Every request needs NTLM (squid's ntlm_fake_auth, which takes any
    // user once the NTLM exchange is complete); Basic is not offered.
    bool ntlm_only = false;
    // PEM files: when both are set the proxy speaks TLS on its port
    // (https_port), as an HTTPS proxy does; squid reads them as nobody.
    std::string tls_cert;
    std::string tls_key;
  };

  // Writes the config into `dir` and starts squid; returns once it accepts
  // connections (at most 20 s). FAILED_PRECONDITION with squid's log if it
  // exits first.
  static absl::StatusOr<std::unique_ptr<Squid>> Start(const Options& options,
                                                      const std::string& dir);
  ~Squid() = default;

  const std::string& address() const { return options_.address; }
  uint16_t port() const { return options_.port; }
  // "http://127.0.0.1:3128" ("https://" with a certificate)
  std::string Url() const;
  Process& process() { return *process_; }
  // The access log, for asserting what the proxy saw. Squid logs a CONNECT
  // when its tunnel closes, a moment after the client closed: this waits
  // (at most `timeout`) until the log contains `needle`, and returns it.
  std::string WaitForAccessLog(absl::string_view needle,
                               absl::Duration timeout = absl::Seconds(3)) const;

 private:
  Squid(Options options, std::string dir, std::unique_ptr<Process> process)
      : options_(std::move(options)), dir_(std::move(dir)), process_(std::move(process)) {}
  Options options_;
  std::string dir_;
  std::unique_ptr<Process> process_;
};

}  // namespace relayscope::rig

#endif  // TESTS_RIG_SQUID_H_
