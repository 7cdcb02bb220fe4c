#include "tests/rig/pki.h"

#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/rig/process.h"

namespace relayscope::rig {
namespace {

absl::Status OpenSsl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = RunCommand(argv, absl::Seconds(30));
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat("openssl ", args.front(), " failed: ", result->output));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TestPki> MakeTestPki(const std::string& dir, const std::string& stem,
                                    const std::string& ca_name,
                                    const std::string& subject_alt_name) {
  const std::string base = absl::StrCat(dir, "/", stem);
  TestPki pki{base + "-ca.pem", base + "-cert.pem", base + "-cert.key", base + "-chain.pem"};
  const std::string ca_key = base + "-ca.key";
  const std::string csr = base + ".csr";
  const std::string ext = base + ".ext";
  const std::string cn = subject_alt_name.substr(subject_alt_name.find(':') + 1);
  std::ofstream(ext) << "subjectAltName=" << subject_alt_name << "\n";
  absl::Status made = OpenSsl({"req", "-x509", "-newkey", "ec", "-pkeyopt",
                               "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key, "-out",
                               pki.ca, "-days", "2", "-subj", "/O=Example/CN=" + ca_name});
  if (made.ok()) {
    made = OpenSsl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", pki.key, "-out", csr, "-subj", "/CN=" + cn});
  }
  if (made.ok()) {
    made = OpenSsl({"x509", "-req", "-in", csr, "-CA", pki.ca, "-CAkey", ca_key, "-CAcreateserial",
                    "-out", pki.cert, "-days", "2", "-extfile", ext});
  }
  if (!made.ok()) return made;
  std::ofstream chain(pki.chain);
  chain << std::ifstream(pki.cert).rdbuf() << std::ifstream(pki.ca).rdbuf();
  std::filesystem::permissions(pki.key, std::filesystem::perms::owner_read |
                                            std::filesystem::perms::group_read |
                                            std::filesystem::perms::others_read);
  return pki;
}

absl::StatusOr<std::string> SpkiSha256Of(const std::string& pem) {
  auto result = RunCommand({"/bin/sh", "-c",
                            absl::StrCat("/usr/bin/openssl x509 -in '", pem,
                                         "' -pubkey -noout | /usr/bin/openssl pkey -pubin "
                                         "-outform der | /usr/bin/openssl dgst -sha256 -r")},
                           absl::Seconds(30));
  if (!result.ok()) return result.status();
  if (result->exit_code != 0 || result->output.size() < 64) {
    return absl::InternalError(absl::StrCat("cannot hash the key of ", pem, ": ", result->output));
  }
  return result->output.substr(0, 64);
}

absl::StatusOr<std::unique_ptr<Process>> StartOpenSslServer(const TestPki& pki,
                                                            const std::string& address,
                                                            uint16_t port,
                                                            const std::string& log_path,
                                                            const std::vector<std::string>& extra) {
  Process::Options options;
  options.argv = {"/usr/bin/openssl",
                  "s_server",
                  "-accept",
                  absl::StrCat(address, ":", port),
                  "-cert",
                  pki.cert,
                  "-key",
                  pki.key,
                  "-cert_chain",
                  pki.ca,
                  "-quiet",
                  "-naccept",
                  "64"};
  options.argv.insert(options.argv.end(), extra.begin(), extra.end());
  options.log_path = log_path;
  auto server = Process::Start(options);
  if (!server.ok()) return server.status();
  if (absl::Status up = WaitForPort(address, port, absl::Seconds(10), server->get()); !up.ok()) {
    return up;
  }
  return server;
}

}  // namespace relayscope::rig
