#include "tests/rig/squid.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/support/wait_until.h"

namespace relayscope::rig {
namespace {

absl::Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path);
  out << content;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  chown(path.c_str(), NobodyUid(), NogroupGid());
  return absl::OkStatus();
}

std::string Bracketed(const std::string& address) {
  return address.find(':') != std::string::npos ? absl::StrCat("[", address, "]") : address;
}

}  // namespace

std::string Squid::Url() const {
  const bool tls = !options_.tls_cert.empty() && !options_.tls_key.empty();
  return absl::StrCat(tls ? "https://" : "http://", Bracketed(options_.address), ":",
                      options_.port);
}

std::string Squid::WaitForAccessLog(absl::string_view needle, absl::Duration timeout) const {
  std::string log;
  test::WaitUntil(
      [&] {
        std::ifstream in(dir_ + "/access.log");
        std::stringstream s;
        s << in.rdbuf();
        log = s.str();
        return absl::StrContains(log, needle);
      },
      timeout);
  return log;
}

absl::StatusOr<std::unique_ptr<Squid>> Squid::Start(const Options& options,
                                                    const std::string& parent) {
  const std::string dir = absl::StrCat(parent, "/squid-", options.port);
  if (mkdir(dir.c_str(), 0755) != 0 || chown(dir.c_str(), NobodyUid(), NogroupGid()) != 0) {
    return absl::InternalError(absl::StrCat("cannot create ", dir));
  }
  const bool tls = !options.tls_cert.empty() && !options.tls_key.empty();
  const std::string listen =
      tls ? absl::StrCat("https_port ", Bracketed(options.address), ":", options.port,
                         " tls-cert=", options.tls_cert, " tls-key=", options.tls_key)
          : absl::StrCat("http_port ", Bracketed(options.address), ":", options.port);
  std::string conf = absl::StrCat(listen, "\n",
                                  "visible_hostname relayscope-rig\n"
                                  "pid_filename ",
                                  dir,
                                  "/squid.pid\n"
                                  "cache_log ",
                                  dir,
                                  "/cache.log\n"
                                  "access_log stdio:",
                                  dir,
                                  "/access.log buffer-size=0KB\n"
                                  "coredump_dir ",
                                  dir,
                                  "\n"
                                  "netdb_filename none\n"
                                  "cache deny all\n"
                                  "cache_mem 4 MB\n"
                                  "pinger_enable off\n"
                                  // Quick exit on SIGTERM instead of waiting 30 s for clients.
                                  "shutdown_lifetime 0 seconds\n"
                                  "dns_nameservers 127.0.0.1\n"
                                  "acl CONNECT method CONNECT\n");
  if (!options.redirect_ports.empty()) {
    std::vector<std::string> ports;
    for (uint16_t p : options.redirect_ports) ports.push_back(absl::StrCat(p));
    // deny_info applies when the named acl is the last one on the deny line.
    absl::StrAppend(&conf, "acl redirect_ports port ", absl::StrJoin(ports, " "), "\n",
                    "deny_info 302:", options.redirect_url, " redirect_ports\n",
                    "http_access deny CONNECT redirect_ports\n");
  }
  if (options.ntlm_only) {
    absl::StrAppend(&conf, "auth_param ntlm program /usr/lib/squid/ntlm_fake_auth\n",
                    "auth_param ntlm children 2\n", "acl authenticated proxy_auth REQUIRED\n",
                    "http_access allow authenticated\n");
  } else if (!options.users.empty()) {
    std::string passwd;
    for (const auto& [user, password] : options.users) {
      auto hashed = RunCommand({"/usr/bin/openssl", "passwd", "-apr1", password});
      if (!hashed.ok()) return hashed.status();
      if (hashed->exit_code != 0) {
        return absl::InternalError(absl::StrCat("openssl passwd failed: ", hashed->output));
      }
      absl::StrAppend(&passwd, user, ":", absl::StripAsciiWhitespace(hashed->output), "\n");
    }
    if (absl::Status s = WriteFile(dir + "/passwd", passwd); !s.ok()) return s;
    absl::StrAppend(&conf, "auth_param basic program /usr/lib/squid/basic_ncsa_auth ", dir,
                    "/passwd\n", "auth_param basic children 2\n",
                    "auth_param basic realm relayscope-rig\n",
                    "acl authenticated proxy_auth REQUIRED\n", "http_access allow authenticated\n");
  } else {
    absl::StrAppend(&conf, "http_access allow all\n");
  }
  absl::StrAppend(&conf, "http_access deny all\n");
  const std::string conf_path = dir + "/squid.conf";
  if (absl::Status s = WriteFile(conf_path, conf); !s.ok()) return s;

  Process::Options process_options;
  process_options.argv = {"/usr/sbin/squid", "-N", "-f", conf_path};
  process_options.working_dir = dir;
  process_options.log_path = dir + "/stderr.log";
  process_options.as_nobody = true;
  auto process = Process::Start(process_options);
  if (!process.ok()) return process.status();
  if (absl::Status s =
          WaitForPort(options.address, options.port, absl::Seconds(20), process->get());
      !s.ok()) {
    std::ifstream cache_log(dir + "/cache.log");
    std::stringstream log;
    log << cache_log.rdbuf();
    return absl::Status(s.code(), absl::StrCat(s.message(), "\ncache.log:\n", log.str()));
  }
  return std::unique_ptr<Squid>(new Squid(options, dir, *std::move(process)));
}

}  // namespace relayscope::rig
