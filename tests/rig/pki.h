// Test certificates made with the openssl command: a CA of the test's own
// and a server certificate it issued, as PEM files in a scenario dir, and
// the key pin of a certificate (what a catalogue's spki_sha256 holds).
#ifndef TESTS_RIG_PKI_H_
#define TESTS_RIG_PKI_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/rig/process.h"

namespace relayscope::rig {

struct TestPki {
  std::string ca;     // the CA certificate
  std::string cert;   // the server certificate, issued by the CA
  std::string key;    // its private key (readable by all: daemons run as nobody)
  std::string chain;  // cert then ca, for servers that send the chain
};

// A CA "CN=<ca_name>,O=Example" (P-256, two days) and a certificate it
// issued for `subject_alt_name` ("DNS:downloads.example" or "IP:127.0.0.1"),
// with CN the name after the colon, as `dir`/<stem>-*.pem. INTERNAL with
// openssl's output when a step fails.
absl::StatusOr<TestPki> MakeTestPki(const std::string& dir, const std::string& stem,
                                    const std::string& ca_name,
                                    const std::string& subject_alt_name);

// SHA-256 of the DER SubjectPublicKeyInfo of the certificate in `pem`,
// lower-case hex.
absl::StatusOr<std::string> SpkiSha256Of(const std::string& pem);

// openssl s_server on address:port presenting `pki`'s certificate with its
// CA as the chain, serving at most 64 connections, one at a time, plus
// `extra` arguments ("-no_tls1_2"); returns once it accepts connections.
// Stopped by its PID when the returned Process goes.
absl::StatusOr<std::unique_ptr<Process>> StartOpenSslServer(
    const TestPki& pki, const std::string& address, uint16_t port, const std::string& log_path,
    const std::vector<std::string>& extra = {});

}  // namespace relayscope::rig

#endif  // TESTS_RIG_PKI_H_
