// relayscope-agent: finds out why this machine can or cannot reach the
// relays, and says what to change. Parses flags, builds the routes, runs
// the diagnosis, shows progress and the verdict, and writes the reports.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/cli/proxies_command.h"
#include "agent/discovery/discover.h"
#include "agent/discovery/wpad.h"
#include "agent/proxy/proxy_url.h"
#include "agent/report/report_writer.h"
#include "agent/report/verdict.h"
#include "agent/session/agent_id.h"
#include "agent/session/diagnose.h"
#include "agent/upload/uploader.h"
#include "common/catalogue.h"
#include "common/cli.h"
#include "common/host_port.h"

ABSL_FLAG(std::string, catalogue, "/etc/relayscope/catalogue.textproto",
          "The relay catalogue (relayscope.v1.Catalogue, text format)");
ABSL_FLAG(std::vector<std::string>, region, {}, "Only these regions (default: all)");
ABSL_FLAG(std::vector<std::string>, ports, {}, "Only these relay ports (default: all)");
ABSL_FLAG(std::vector<std::string>, proxy, {},
          "Proxies to try, in order: http://host:port, https://, socks4://, socks4a://, "
          "socks5://, socks5h://");
ABSL_FLAG(std::string, proxy_user, "",
          "User name to answer a proxy's 407 with (else RELAYSCOPE_PROXY_USER, else asked on "
          "the terminal); the password comes from RELAYSCOPE_PROXY_PASSWORD or the terminal, "
          "with echo off, and is never shown");
ABSL_FLAG(bool, direct, true, "Also try without a proxy");
ABSL_FLAG(bool, discover, true,
          "Find the proxies this machine uses (Firefox, PAC, manual file, environment) and try "
          "them after --proxy");
ABSL_FLAG(std::string, proxy_file, "",
          "Manual proxy file (Proxy=host:port lines; default: $XDG_CONFIG_HOME/relayscope/"
          "proxy.txt, then /etc/relayscope/proxy.txt)");
ABSL_FLAG(std::vector<std::string>, pac_url, {}, "PAC file URLs to evaluate first");
ABSL_FLAG(std::string, windows_reg, "",
          "A regedit export of Internet Settings to read (Windows proxy settings on Linux)");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(5), "Deadline of each attempt");
ABSL_FLAG(absl::Duration, stagger, absl::Milliseconds(250),
          "Delay between attempt starts while earlier ones are pending (RFC 8305)");
ABSL_FLAG(absl::Duration, budget, absl::Seconds(60), "No attempt starts after this");
ABSL_FLAG(int, concurrency, 16, "Attempts running at once");
ABSL_FLAG(bool, sequential, false, "One attempt after another, like the old client (baseline)");
ABSL_FLAG(std::string, report_dir, "", "Where to write the reports (default: the temp dir)");
ABSL_FLAG(bool, json, false, "Print the session report as JSON on stdout, nothing else");
ABSL_FLAG(std::string, site, "", "Site label for fleet queries, e.g. acme-paris");
ABSL_FLAG(std::string, agent_id_file, "", "Agent identity file (default: XDG state dir)");
ABSL_FLAG(bool, quiet, false, "Print only the verdict");
ABSL_FLAG(std::string, collector, "",
          "Collector host:port to send the session's telemetry to (empty: don't)");
ABSL_FLAG(bool, insecure, false, "Talk to the collector without TLS (local demo only)");
ABSL_FLAG(std::string, ca, "", "PEM CA bundle for the collector (default: system roots)");
ABSL_FLAG(std::string, token_file, "",
          "File holding the agent token (else RELAYSCOPE_TOKEN); never printed");
ABSL_FLAG(std::string, spool_dir, "",
          "Where undelivered telemetry waits (default: XDG state dir/relayscope/spool)");
ABSL_FLAG(absl::Duration, upload_timeout, absl::Seconds(10), "Time allowed for the upload");
ABSL_FLAG(absl::Duration, interval, absl::Minutes(5), "watch: time between diagnoses");
ABSL_FLAG(int, count, 0, "watch: stop after this many diagnoses (0: until SIGTERM)");

namespace {

using namespace relayscope;

constexpr char kVersion[] = "0.1.0";
// sysexits.h: EX_USAGE and EX_CONFIG.
constexpr int kExitUsage = 64;
constexpr int kExitConfig = 78;

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "relayscope-agent: %s\n", message.c_str());
  return code;
}

// Reads a line from the terminal, without echo when `secret`. nullopt when
// there is no terminal to ask.
std::optional<std::string> Ask(const std::string& prompt, bool secret) {
  if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO)) return std::nullopt;
  std::fprintf(stderr, "%s", prompt.c_str());
  termios old_mode{};
  tcgetattr(STDIN_FILENO, &old_mode);
  if (secret) {
    termios quiet = old_mode;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string answer;
  std::getline(std::cin, answer);
  if (secret) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old_mode);
    std::fprintf(stderr, "\n");
  }
  return answer;
}

// Credentials for a proxy that answered 407: --proxy_user or the
// environment, the terminal for whatever is missing.
std::optional<std::pair<std::string, std::string>> AskCredentials(const v1::Proxy& proxy) {
  std::string user = absl::GetFlag(FLAGS_proxy_user);
  if (user.empty()) {
    if (const char* env = std::getenv("RELAYSCOPE_PROXY_USER"); env != nullptr) user = env;
  }
  const std::string where = HostPort(proxy.host(), proxy.port());
  if (user.empty()) {
    auto typed = Ask(absl::StrCat("\nThe proxy ", where,
                                  " requires authentication (407).\n"
                                  "User name (empty to skip): "),
                     false);
    if (!typed || typed->empty()) return std::nullopt;
    user = *typed;
  }
  std::string password;
  if (const char* env = std::getenv("RELAYSCOPE_PROXY_PASSWORD"); env != nullptr) {
    password = env;
  } else if (auto typed = Ask(absl::StrCat("Password for ", user, " at ", where, ": "), true)) {
    password = *typed;
  } else {
    return std::nullopt;
  }
  return std::make_pair(user, password);
}

const char* StatusWord(v1::VerdictStatus status) {
  switch (status) {
    case v1::VERDICT_STATUS_REACHABLE:
      return "REACHABLE";
    case v1::VERDICT_STATUS_DEGRADED:
      return "DEGRADED";
    default:
      return "UNREACHABLE";
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Diagnoses relay connectivity from this machine.\n"
      "  relayscope-agent diagnose --catalogue=deploy/catalogue/aos.textproto\n"
      "  relayscope-agent diagnose --catalogue=... --proxy=http://proxy:3128 --proxy-user=me\n"
      "  relayscope-agent watch --interval=5m --collector=collector:50051 (diagnose repeatedly)\n"
      "Exit status: 0 reachable, 1 degraded, 2 unreachable, 64 usage error, 78 bad catalogue.");
  std::vector<std::string> arg_storage = NormalizeFlagNames(argc, argv);
  std::vector<char*> arg_pointers = ArgvPointers(arg_storage);
  std::vector<char*> args =
      absl::ParseCommandLine(static_cast<int>(arg_storage.size()), arg_pointers.data());
  const std::string command = args.size() == 2 ? args[1] : "diagnose";
  if (args.size() > 2 || (command != "diagnose" && command != "watch" && command != "proxies")) {
    return Fail(kExitUsage, "usage: relayscope-agent [diagnose|watch|proxies] [flags]; see --help");
  }
  if (command == "watch" && absl::GetFlag(FLAGS_collector).empty()) {
    return Fail(kExitUsage, "watch needs --collector: it exists to feed the collector");
  }

  auto catalogue = LoadCatalogue(absl::GetFlag(FLAGS_catalogue));
  if (!catalogue.ok()) return Fail(kExitConfig, std::string(catalogue.status().message()));
  if (!absl::GetFlag(FLAGS_region).empty()) {
    catalogue = SelectRegions(*catalogue, absl::GetFlag(FLAGS_region));
    if (!catalogue.ok()) {
      return Fail(kExitUsage, absl::StrCat("--region: ", catalogue.status().message()));
    }
  }

  // Routes: the proxies given, in order, then DIRECT.
  std::vector<agent::Route> routes;
  std::vector<v1::DiscoveredProxy> discovered;
  for (const std::string& text : absl::GetFlag(FLAGS_proxy)) {
    auto url = agent::ParseProxyUrl(text);
    if (!url.ok()) return Fail(kExitUsage, absl::StrCat("--proxy: ", url.status().message()));
    routes.push_back(agent::ProxyRoute(*url, v1::PROXY_SOURCE_FLAG, "--proxy"));
    *discovered.emplace_back().mutable_proxy() = routes.back().proxy;
  }
  // Then what this machine is configured to use.
  if (absl::GetFlag(FLAGS_discover) || command == "proxies") {
    agent::DiscoverOptions discover;
    const char* home = std::getenv("HOME");
    discover.sources =
        agent::DefaultSources(home != nullptr ? home : "", absl::GetFlag(FLAGS_proxy_file),
                              absl::GetFlag(FLAGS_windows_reg));
    discover.pac_urls = absl::GetFlag(FLAGS_pac_url);
    discover.wpad = std::make_unique<agent::WpadSource>();
    discover.pac.resolve = agent::SystemResolve;
    discover.pac.my_addresses = agent::LocalAddresses();
    agent::ProxySetup setup = agent::DiscoverProxies(*catalogue, std::move(discover));
    if (command == "proxies") {
      std::printf("%s", absl::GetFlag(FLAGS_json) ? agent::RenderProxySetupJson(setup).c_str()
                                                  : agent::RenderProxySetupText(setup).c_str());
      return 0;
    }
    for (const agent::SourceReport& source : setup.sources) {
      for (const std::string& warning : source.result.warnings) {
        std::fprintf(stderr, "relayscope-agent: proxy discovery (%s): %s\n", source.name.c_str(),
                     warning.c_str());
      }
    }
    for (const agent::PacReport& pac : setup.pac) {
      if (!pac.error.empty()) {
        std::fprintf(stderr, "relayscope-agent: PAC %s: %s (DIRECT is still tried)\n",
                     pac.location.url.c_str(), pac.error.c_str());
      }
    }
    for (const agent::ProxyCandidate& candidate : setup.routes) {
      bool duplicate = false;
      for (const agent::Route& r : routes) {
        duplicate = duplicate ||
                    (r.proxy.kind() == candidate.url.kind && r.proxy.host() == candidate.url.host &&
                     r.proxy.port() == candidate.url.port);
      }
      if (duplicate) continue;
      routes.push_back(agent::ProxyRoute(candidate.url, candidate.source, candidate.detail));
      v1::DiscoveredProxy* d = &discovered.emplace_back();
      *d->mutable_proxy() = routes.back().proxy;
      for (const std::string& b : candidate.bypass) d->add_bypass(b);
    }
  }
  if (absl::GetFlag(FLAGS_direct)) routes.push_back(agent::DirectRoute());
  if (routes.empty()) return Fail(kExitUsage, "no route to try: give --proxy or keep --direct");

  agent::DiagnoseOptions options;
  options.race.attempt_timeout = absl::GetFlag(FLAGS_timeout);
  options.race.stagger = absl::GetFlag(FLAGS_stagger);
  options.race.budget = absl::GetFlag(FLAGS_budget);
  options.race.max_concurrency = absl::GetFlag(FLAGS_concurrency);
  options.race.sequential = absl::GetFlag(FLAGS_sequential);
  for (const std::string& port : absl::GetFlag(FLAGS_ports)) {
    uint32_t value = 0;
    if (!absl::SimpleAtoi(port, &value) || value == 0 || value > 65535) {
      return Fail(kExitUsage, absl::StrCat("--ports: \"", port, "\" is not a port"));
    }
    options.allowed_ports.push_back(static_cast<uint16_t>(value));
  }
  const std::string id_file = absl::GetFlag(FLAGS_agent_id_file).empty()
                                  ? agent::DefaultAgentIdPath()
                                  : absl::GetFlag(FLAGS_agent_id_file);
  options.agent.set_agent_id(agent::LoadOrCreateAgentId(id_file));
  options.agent.set_version(kVersion);
  options.agent.set_os("linux");
  options.agent.set_site(absl::GetFlag(FLAGS_site));
  options.ask_credentials = AskCredentials;
  std::map<uint64_t, agent::AttemptTrace> traces;
  options.traces = &traces;

  const bool json = absl::GetFlag(FLAGS_json);
  const bool talk = !json && !absl::GetFlag(FLAGS_quiet);
  // Progress: one line per finished attempt, and on a terminal a live
  // status line under them.
  const bool tty = talk && isatty(STDOUT_FILENO);
  const size_t planned = agent::Plan(*catalogue, routes, options.allowed_ports).size();
  size_t done = 0, failed = 0;
  if (talk) {
    std::printf("relayscope %s: %zu attempts to %d region(s) over %zu route(s), catalogue \"%s\"\n",
                kVersion, planned, catalogue->regions_size(), routes.size(),
                catalogue->name().c_str());
    options.on_attempt = [&](const v1::Attempt& a) {
      ++done;
      if (a.outcome() != v1::OUTCOME_OK) ++failed;
      std::string line =
          absl::StrCat(a.outcome() == v1::OUTCOME_OK ? "  [ ok ] " : "  [FAIL] ",
                       agent::DescribeAttempt(a), ": ", agent::DescribeOutcome(a.outcome()));
      if (a.outcome() != v1::OUTCOME_OK && !a.detail().empty()) {
        absl::StrAppend(&line, " (", a.detail(), ")");
      }
      if (tty) std::printf("\r\033[K");
      std::printf("%s\n", line.c_str());
      if (tty) {
        std::printf("  ... %zu of %zu done, %zu ok, %zu failed", done, planned, done - failed,
                    failed);
      }
      std::fflush(stdout);
    };
  }

  InstallStopSignalHandlers();
  int exit_code = 0;
  for (int run = 1;; ++run) {
    traces.clear();
    done = failed = 0;
    v1::SessionReport report = agent::Diagnose(*catalogue, routes, discovered, options);

    std::string report_dir = absl::GetFlag(FLAGS_report_dir);
    if (report_dir.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      report_dir = tmp != nullptr && *tmp ? tmp : "/tmp";
    }
    auto paths = agent::WriteReports(report, report_dir, &traces);
    if (!paths.ok()) {
      std::fprintf(stderr, "relayscope-agent: could not write the reports: %s\n",
                   std::string(paths.status().message()).c_str());
    }
    if (json) {
      std::printf("%s", agent::RenderJson(report).c_str());
    } else {
      const v1::Verdict& verdict = report.verdict();
      if (tty) std::printf("\r\033[K");
      std::printf("\nVerdict: %s\n%s\n", StatusWord(verdict.status()), verdict.summary().c_str());
      for (const std::string& works : verdict.working()) {
        std::printf("  works:   %s\n", works.c_str());
      }
      for (const v1::Blocker& blocker : verdict.blockers()) {
        std::printf("  blocked: %s\n           -> %s\n", blocker.explanation().c_str(),
                    blocker.advice().c_str());
      }
      if (paths.ok()) {
        std::printf("\nReport: %s\n        %s\n        %s\n", paths->html.c_str(),
                    paths->text.c_str(), paths->json.c_str());
      }
    }
    // Telemetry goes after the verdict is shown: the user never waits on it.
    if (const std::string collector = absl::GetFlag(FLAGS_collector); !collector.empty()) {
      agent::UploadOptions upload;
      upload.target = collector;
      upload.insecure = absl::GetFlag(FLAGS_insecure);
      upload.ca_file = absl::GetFlag(FLAGS_ca);
      upload.deadline = absl::GetFlag(FLAGS_upload_timeout);
      if (const std::string file = absl::GetFlag(FLAGS_token_file); !file.empty()) {
        std::ifstream in(file);
        std::getline(in, upload.token);
        if (!in && upload.token.empty()) {
          return Fail(kExitConfig, absl::StrCat("cannot read --token-file ", file));
        }
      } else if (const char* env = std::getenv("RELAYSCOPE_TOKEN"); env != nullptr) {
        upload.token = env;
      }
      upload.spool_dir = absl::GetFlag(FLAGS_spool_dir).empty()
                             ? std::filesystem::path(id_file).parent_path().string() + "/spool"
                             : absl::GetFlag(FLAGS_spool_dir);
      const agent::UploadResult sent = agent::Upload(report, upload);
      if (sent.error.empty()) {
        if (talk) {
          std::printf("Telemetry: %llu attempts delivered to %s (%llu already known)%s\n",
                      static_cast<unsigned long long>(sent.accepted + sent.duplicates),
                      collector.c_str(), static_cast<unsigned long long>(sent.duplicates),
                      sent.delivered_from_spool > 0
                          ? absl::StrCat(", with ", sent.delivered_from_spool,
                                         " spooled batch(es) from earlier runs")
                                .c_str()
                          : "");
        }
      } else {
        std::fprintf(stderr,
                     "relayscope-agent: telemetry not delivered: %s; %llu batch(es) wait in %s\n",
                     sent.error.c_str(), static_cast<unsigned long long>(sent.spooled),
                     upload.spool_dir.c_str());
      }
      if (sent.dropped > 0) {
        std::fprintf(
            stderr,
            "relayscope-agent: warning: the spool was full; %llu oldest batch(es) dropped\n",
            static_cast<unsigned long long>(sent.dropped));
      }
    }
    switch (report.verdict().status()) {
      case v1::VERDICT_STATUS_REACHABLE:
        exit_code = 0;
        break;
      case v1::VERDICT_STATUS_DEGRADED:
        exit_code = 1;
        break;
      default:
        exit_code = 2;
        break;
    }
    if (command != "watch" || run == absl::GetFlag(FLAGS_count)) break;
    const int64_t wait_ms = absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_interval));
    if (StopSignalWithin(static_cast<int>(std::min<int64_t>(wait_ms, INT32_MAX)))) break;
  }
  return exit_code;
}
