#include "tests/rig/dante.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace relayscope::rig {

std::string Dante::Log() const {
  std::ifstream in(dir_ + "/danted.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::StatusOr<std::unique_ptr<Dante>> Dante::Start(const Options& options,
                                                    const std::string& parent) {
  const std::string dir = absl::StrCat(parent, "/dante-", options.port);
  if (mkdir(dir.c_str(), 0755) != 0 || chown(dir.c_str(), NobodyUid(), NogroupGid()) != 0) {
    return absl::InternalError(absl::StrCat("cannot create ", dir));
  }
  // Rule blocks must span several lines (dante 1.4.2 rejects one-liners);
  // the first matching socks rule wins, so blocks go before the passes.
  std::string blocks;
  for (const std::string& address : options.blocked_destinations) {
    const bool v6 = address.find(':') != std::string::npos;
    absl::StrAppend(&blocks, "socks block {\n  from: ", v6 ? "::/0" : "0.0.0.0/0", " to: ", address,
                    v6 ? "/128" : "/32", "\n  command: connect\n  log: error connect\n}\n");
  }
  const std::string conf =
      absl::StrCat("logoutput: ", dir, "/danted.log\n", "internal: ", options.address,
                   " port = ", options.port, "\n",
                   "external: lo\n"
                   "socksmethod: none\n"
                   "clientmethod: none\n"
                   "client pass {\n"
                   "  from: 127.0.0.0/8 to: 0.0.0.0/0\n"
                   "  log: error\n"
                   "}\n"
                   "client pass {\n"
                   "  from: ::1/128 to: ::/0\n"
                   "  log: error\n"
                   "}\n",
                   blocks,
                   "socks pass {\n"
                   "  from: 127.0.0.0/8 to: 0.0.0.0/0\n"
                   "  command: connect\n"
                   "  log: error connect\n"
                   "}\n"
                   "socks pass {\n"
                   "  from: ::1/128 to: ::/0\n"
                   "  command: connect\n"
                   "  log: error connect\n"
                   "}\n");
  const std::string conf_path = dir + "/danted.conf";
  {
    std::ofstream out(conf_path);
    out << conf;
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", conf_path));
  }
  Process::Options process_options;
  process_options.argv = {"/usr/sbin/danted", "-f", conf_path, "-p", dir + "/danted.pid"};
  process_options.working_dir = dir;
  process_options.log_path = dir + "/stderr.log";
  process_options.as_nobody = true;
  auto process = Process::Start(process_options);
  if (!process.ok()) return process.status();
  if (absl::Status s =
          WaitForPort(options.address, options.port, absl::Seconds(10), process->get());
      !s.ok()) {
    return s;
  }
  return std::unique_ptr<Dante>(new Dante(options, dir, *std::move(process)));
}

}  // namespace relayscope::rig
