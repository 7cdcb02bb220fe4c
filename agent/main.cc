// relayscope-agent: finds out why this machine can or cannot reach the
// relays, and says what to change. Parses flags, builds the routes, runs
// the diagnosis, prints the verdict and writes the reports.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/discovery/proxy_url.h"
#include "agent/report/report_writer.h"
#include "agent/report/verdict.h"
#include "agent/session/agent_id.h"
#include "agent/session/diagnose.h"
#include "relayscope/util/catalogue.h"

ABSL_FLAG(std::string, catalogue, "/etc/relayscope/catalogue.textproto",
          "The relay catalogue (relayscope.v1.Catalogue, text format)");
ABSL_FLAG(std::vector<std::string>, proxy, {},
          "Proxies to try, in order: http://host:port, https://, socks4://, socks4a://, "
          "socks5://, socks5h:// (user-info allowed but better given with --proxy_user)");
ABSL_FLAG(std::string, proxy_user, "",
          "User name for the proxies; the password comes from RELAYSCOPE_PROXY_PASSWORD or "
          "is asked for on the terminal, and is never shown");
ABSL_FLAG(bool, direct, true, "Also try without a proxy");
ABSL_FLAG(std::vector<std::string>, ports, {}, "Only these relay ports (default: all)");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(5), "Deadline of each attempt");
ABSL_FLAG(absl::Duration, stagger, absl::Milliseconds(250),
          "Delay between attempt starts while earlier ones are pending (RFC 8305)");
ABSL_FLAG(absl::Duration, budget, absl::Seconds(60), "No attempt starts after this");
ABSL_FLAG(int, concurrency, 16, "Attempts running at once");
ABSL_FLAG(bool, sequential, false, "One attempt after another, like the old client (baseline)");
ABSL_FLAG(std::string, report_dir, "", "Where to write the reports (default: the temp dir)");
ABSL_FLAG(std::string, site, "", "Site label for fleet queries, e.g. acme-paris");
ABSL_FLAG(std::string, agent_id_file, "", "Agent identity file (default: XDG state dir)");
ABSL_FLAG(bool, quiet, false, "Print only the verdict");

namespace {

constexpr char kVersion[] = "0.1.0";
constexpr int kExitError = 3;

int Fail(const std::string& message) {
  std::fprintf(stderr, "relayscope-agent: %s\n", message.c_str());
  return kExitError;
}

// Reads a password from the terminal without echo. Empty if no terminal.
std::string AskPassword(const std::string& user) {
  if (!isatty(STDIN_FILENO)) return "";
  std::fprintf(stderr, "Proxy password for %s: ", user.c_str());
  termios old_mode{};
  tcgetattr(STDIN_FILENO, &old_mode);
  termios quiet = old_mode;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  std::string password;
  std::getline(std::cin, password);
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &old_mode);
  std::fprintf(stderr, "\n");
  return password;
}

const char* StatusWord(relayscope::v1::VerdictStatus status) {
  switch (status) {
    case relayscope::v1::VERDICT_STATUS_REACHABLE: return "REACHABLE";
    case relayscope::v1::VERDICT_STATUS_DEGRADED: return "DEGRADED";
    default: return "UNREACHABLE";
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace relayscope;
  absl::SetProgramUsageMessage(
      "Diagnoses relay connectivity from this machine.\n"
      "  relayscope-agent diagnose --catalogue=deploy/catalogue/aos.textproto\n"
      "  relayscope-agent diagnose --catalogue=... --proxy=http://proxy:3128 --proxy_user=me\n"
      "Exit status: 0 reachable, 1 degraded, 2 unreachable, 3 error.");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() > 2 || (args.size() == 2 && std::string(args[1]) != "diagnose")) {
    return Fail("usage: relayscope-agent [diagnose] [flags]; see --help");
  }

  auto catalogue = LoadCatalogue(absl::GetFlag(FLAGS_catalogue));
  if (!catalogue.ok()) return Fail(std::string(catalogue.status().message()));

  // Routes: the proxies given, in order, then DIRECT.
  std::vector<agent::Route> routes;
  std::vector<v1::DiscoveredProxy> discovered;
  const std::string user = absl::GetFlag(FLAGS_proxy_user);
  std::string password;
  if (!user.empty()) {
    const char* from_env = std::getenv("RELAYSCOPE_PROXY_PASSWORD");
    password = from_env != nullptr ? from_env : AskPassword(user);
  }
  for (const std::string& text : absl::GetFlag(FLAGS_proxy)) {
    auto url = agent::ParseProxyUrl(text);
    if (!url.ok()) return Fail(absl::StrCat("--proxy: ", url.status().message()));
    if (!user.empty() && url->username.empty()) {
      url->username = user;
      url->password = password;
    }
    agent::Route route;
    route.endpoint.kind = url->kind;
    route.endpoint.host = url->host;
    route.endpoint.port = url->port;
    route.endpoint.username = url->username;
    route.endpoint.password = url->password;
    route.endpoint.remote_dns = url->remote_dns;
    route.proxy.set_kind(url->kind);
    route.proxy.set_host(url->host);
    route.proxy.set_port(url->port);
    route.proxy.set_source(v1::PROXY_SOURCE_FLAG);
    route.proxy.set_source_detail("--proxy");
    route.proxy.set_has_credentials(!url->username.empty());
    *discovered.emplace_back().mutable_proxy() = route.proxy;
    routes.push_back(std::move(route));
  }
  if (absl::GetFlag(FLAGS_direct)) routes.push_back(agent::DirectRoute());
  if (routes.empty()) return Fail("no route to try: give --proxy or leave --direct on");

  agent::DiagnoseOptions options;
  options.race.attempt_timeout = absl::GetFlag(FLAGS_timeout);
  options.race.stagger = absl::GetFlag(FLAGS_stagger);
  options.race.budget = absl::GetFlag(FLAGS_budget);
  options.race.max_concurrency = absl::GetFlag(FLAGS_concurrency);
  options.race.sequential = absl::GetFlag(FLAGS_sequential);
  for (const std::string& port : absl::GetFlag(FLAGS_ports)) {
    uint32_t value = 0;
    if (!absl::SimpleAtoi(port, &value) || value == 0 || value > 65535) {
      return Fail(absl::StrCat("--ports: \"", port, "\" is not a port"));
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
  const bool quiet = absl::GetFlag(FLAGS_quiet);
  if (!quiet) {
    std::printf("relayscope %s: trying %d region(s) over %zu route(s), catalogue \"%s\"\n",
                kVersion, catalogue->regions_size(), routes.size(), catalogue->name().c_str());
    options.on_attempt = [](const v1::Attempt& a) {
      std::string line = absl::StrCat(a.outcome() == v1::OUTCOME_OK ? "  [ ok ] " : "  [FAIL] ",
                                       agent::DescribeAttempt(a), ": ",
                                       agent::DescribeOutcome(a.outcome()));
      if (a.outcome() != v1::OUTCOME_OK && !a.detail().empty()) {
        absl::StrAppend(&line, " (", a.detail(), ")");
      }
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    };
  }

  v1::SessionReport report = agent::Diagnose(*catalogue, routes, discovered, options);

  const v1::Verdict& verdict = report.verdict();
  std::printf("\nVerdict: %s\n%s\n", StatusWord(verdict.status()), verdict.summary().c_str());
  for (const std::string& works : verdict.working()) std::printf("  works:   %s\n", works.c_str());
  for (const v1::Blocker& blocker : verdict.blockers()) {
    std::printf("  blocked: %s\n           -> %s\n", blocker.explanation().c_str(),
                blocker.advice().c_str());
  }
  std::string report_dir = absl::GetFlag(FLAGS_report_dir);
  if (report_dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    report_dir = tmp != nullptr && *tmp ? tmp : "/tmp";
  }
  auto paths = agent::WriteReports(report, report_dir);
  if (!paths.ok()) {
    std::fprintf(stderr, "relayscope-agent: could not write the reports: %s\n",
                 std::string(paths.status().message()).c_str());
  } else {
    std::printf("\nReport: %s\n        %s\n        %s\n", paths->html.c_str(), paths->text.c_str(),
                paths->json.c_str());
  }
  switch (verdict.status()) {
    case v1::VERDICT_STATUS_REACHABLE: return 0;
    case v1::VERDICT_STATUS_DEGRADED: return 1;
    default: return 2;
  }
}
