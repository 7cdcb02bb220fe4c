#include "agent/cli/agent_command.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/attempt/transport.h"
#include "agent/cli/collector_routes.h"
#include "agent/cli/console.h"
#include "agent/cli/proxies_command.h"
#include "agent/cli/routes.h"
#include "agent/cli/token.h"
#include "agent/discovery/discover.h"
#include "agent/discovery/wpad.h"
#include "agent/plan/plan.h"
#include "agent/report/report_writer.h"
#include "agent/session/agent_id.h"
#include "agent/upload/uploader.h"
#include "common/catalogue.h"
#include "common/cli.h"
#include "common/embedded_files.h"

namespace relayscope {
// agent/cli/CMakeLists.txt embeds deploy/catalogue/aos.textproto.
const EmbeddedFile* BuiltInCatalogueFiles(size_t* count);
}  // namespace relayscope

namespace relayscope::agent {
namespace {

// Writes as printf("%s") did, so the bytes a user or a script sees stay
// the same. No flush: stdout is flushed where the old binary flushed it
// (after each progress line), which keeps its interleaving with stderr.
void Write(std::FILE* to, const std::string& text) { std::fputs(text.c_str(), to); }

// --wpad: automatic detection asked for on the command line, as a source
// that turns it on (DiscoverProxies follows "wpad" wherever a source asks).
class WpadFlagSource final : public ProxySource {
 public:
  std::string name() const override { return "--wpad"; }
  DiscoveryResult Discover() override {
    DiscoveryResult result;
    result.pac.push_back({"wpad", v1::PROXY_SOURCE_FLAG, "--wpad"});
    return result;
  }
};

DiscoverOptions SystemDiscovery(const AgentOptions& options, const Environment& env) {
  DiscoverOptions discover;
  if (options.wpad) discover.sources.push_back(std::make_unique<WpadFlagSource>());
  for (auto& source :
       DefaultSources(env("HOME").value_or(""), options.proxy_file, options.windows_reg)) {
    discover.sources.push_back(std::move(source));
  }
  discover.pac_urls = options.pac_urls;
  discover.wpad = std::make_unique<WpadSource>(options.wpad_places);
  discover.pac.resolve = SystemResolve;
  discover.pac.my_addresses = LocalAddresses();
  return discover;
}

// A CA file for HTTPS proxies that can be read: a regular file holding
// at least one byte. Checked up front, since libcurl would only say so
// attempt by attempt, as a TLS failure of every HTTPS proxy.
absl::Status CheckProxyCaFile(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--proxy-ca: ", path, " is not a file that exists"));
  }
  std::ifstream in(path, std::ios::binary);
  char byte = 0;
  if (!in.get(byte)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--proxy-ca: cannot read ", path, " (unreadable or empty)"));
  }
  return absl::OkStatus();
}

// Who is diagnosing. An identity that lasts is for the collector's fleet
// view; a customer who only runs a diagnosis gets one for this run and no
// file.
v1::AgentInfo ThisAgent(const AgentOptions& options, const std::string& id_file) {
  v1::AgentInfo agent = options.diagnose.agent;  // what the caller set, completed
  const bool keep_identity = !options.collector.empty() || !options.agent_id_file.empty();
  agent.set_agent_id(keep_identity ? LoadOrCreateAgentId(id_file) : NewUuid());
  agent.set_version(kAgentVersion);
#ifdef _WIN32
  agent.set_os("windows");
#else
  agent.set_os("linux");
#endif
  agent.set_site(options.site);
  return agent;
}

// What discovery is asked about: the relays, and the collector when this
// run uploads (collector_routes.h).
absl::StatusOr<v1::Catalogue> DiscoveryCatalogue(const v1::Catalogue& catalogue,
                                                 const AgentOptions& options,
                                                 AgentCommand command) {
  if (options.collector.empty() || command == AgentCommand::kProxies) return catalogue;
  return WithCollector(catalogue, options.collector);
}

// Every upload's settings but the token: the collector, its routes (out
// the way the diagnosis got out, with the credentials it was given), the
// spool.
UploadOptions CollectorUpload(const AgentOptions& options, const RouteList& routes,
                              const std::optional<RelayRoutes>& collector_routes,
                              const ProxyCredentialMemory& credentials,
                              const std::string& id_file) {
  UploadOptions upload;
  upload.target = options.collector;
  upload.insecure = options.insecure;
  upload.ca_file = options.ca_file;
  upload.deadline = options.upload_timeout;
  upload.spool_dir = SpoolDirectory(options.spool_dir, id_file);
  upload.routes =
      CollectorUploadRoutes(routes, options.proxies.size(), collector_routes, options.direct);
  credentials.Apply(&upload.routes);
  upload.proxy_ca_file = options.proxy_ca_file;
  return upload;
}

// Uploads `report` and says how it went. The token file's error when it
// cannot be read.
absl::Status UploadTelemetry(const v1::SessionReport& report, const AgentOptions& options,
                             const AgentIo& io, bool talk, UploadOptions upload,
                             ProxyCredentialsQuestion ask_credentials) {
  // Read for every run, so a watch picks up a rotated token file.
  auto token = LoadToken(options.token_file, io.env);
  if (!token.ok()) return token.status();
  upload.token = *std::move(token);
  upload.ask_credentials = std::move(ask_credentials);
  const UploadResult sent = Upload(report, upload);
  if (talk) Write(io.out, RenderUploadSummary(sent, options.collector));
  Write(io.err, RenderUploadProblems(sent, upload.spool_dir));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AgentCommand> ParseCommand(const std::vector<std::string>& args) {
  const std::string command = args.size() == 2 ? args[1] : "diagnose";
  if (args.size() <= 2) {
    if (command == "diagnose") return AgentCommand::kDiagnose;
    if (command == "watch") return AgentCommand::kWatch;
    if (command == "proxies") return AgentCommand::kProxies;
  }
  return absl::InvalidArgumentError(
      "usage: relayscope-agent [diagnose|watch|proxies] [flags]; see --help");
}

AgentIo SystemIo(Terminal* terminal) {
  AgentIo io;
  io.out = stdout;
  io.err = stderr;
  PrepareConsole();
  io.out_is_terminal = StdoutIsTerminal();
  io.env = ProcessEnvironment();
  io.terminal = terminal;
  io.listen_for_stop = InstallStopSignalHandlers;
  io.stop_requested_within = [](absl::Duration interval) {
    const int64_t ms = absl::ToInt64Milliseconds(interval);
    return StopSignalWithin(static_cast<int>(std::min<int64_t>(ms, INT32_MAX)));
  };
#ifdef _WIN32
  io.open_for_user = [](const std::string& path) { OpenForUser(path); };
#endif
  return io;
}

std::string ReportDirectory(const std::string& flag, const Environment& env) {
  if (!flag.empty()) return flag;
#ifdef _WIN32
  for (const char* name : {"TMP", "TEMP", "USERPROFILE"}) {
    if (std::string dir = env(name).value_or(""); !dir.empty()) return dir;
  }
  return "C:\\Windows\\Temp";
#else
  const std::string tmp = env("TMPDIR").value_or("");
  return tmp.empty() ? "/tmp" : tmp;
#endif
}

absl::StatusOr<v1::Catalogue> BuiltInCatalogue() {
  size_t count = 0;
  const EmbeddedFile* files = BuiltInCatalogueFiles(&count);
  if (count != 1) return absl::InternalError("the agent was built without its catalogue");
  return ParseCatalogue(absl::string_view(files[0].data, files[0].size), kBuiltInCatalogueName);
}

std::string SpoolDirectory(const std::string& flag, const std::string& agent_id_file) {
  if (!flag.empty()) return flag;
  return std::filesystem::path(agent_id_file).parent_path().string() + "/spool";
}

int RunAgent(AgentCommand command, const AgentOptions& options, const AgentIo& io) {
  auto fail = [&io](int code, absl::string_view message) {
    Write(io.err, ErrorLine(std::string(message)));
    return code;
  };
  if (command == AgentCommand::kWatch && options.collector.empty()) {
    return fail(kExitUsage, "watch needs --collector: it exists to feed the collector");
  }
  // HTTPS proxies verified against the given CA file: a transport of this
  // run's own, unless the caller brought one.
  std::unique_ptr<CurlTransport> proxy_ca_transport;
  if (!options.proxy_ca_file.empty() && options.diagnose.transport == nullptr) {
    if (absl::Status ca = CheckProxyCaFile(options.proxy_ca_file); !ca.ok()) {
      return fail(kExitUsage, ca.message());
    }
    CurlTransport::Options transport_options;
    transport_options.proxy_ca_file = options.proxy_ca_file;
    proxy_ca_transport = std::make_unique<CurlTransport>(std::move(transport_options));
  }

  auto catalogue =
      options.catalogue_path.empty() ? BuiltInCatalogue() : LoadCatalogue(options.catalogue_path);
  if (!catalogue.ok()) return fail(kExitConfig, catalogue.status().message());
  if (!options.regions.empty()) {
    catalogue = SelectRegions(*catalogue, options.regions);
    if (!catalogue.ok()) {
      return fail(kExitUsage, absl::StrCat("--region: ", catalogue.status().message()));
    }
  }

  // Routes: the proxies given, in order, then what this machine is
  // configured to use, then DIRECT.
  auto routes = RoutesFromProxyFlags(options.proxies);
  if (!routes.ok()) return fail(kExitUsage, routes.status().message());
  std::vector<RelayRoutes> relays;
  std::optional<RelayRoutes> collector_routes;  // uploading: see collector_routes.h
  if (options.discover || command == AgentCommand::kProxies) {
    auto asked = DiscoveryCatalogue(*catalogue, options, command);
    if (!asked.ok()) return fail(kExitUsage, asked.status().message());
    ProxySetup setup = DiscoverProxies(*asked, SystemDiscovery(options, io.env));
    collector_routes = TakeCollectorRoutes(&setup);
    if (command == AgentCommand::kProxies) {
      Write(io.out, options.json ? RenderProxySetupJson(setup, routes->routes)
                                 : RenderProxySetupText(setup, routes->routes));
      return 0;
    }
    Write(io.err, RenderDiscoveryWarnings(setup));
    AddDiscoveredRoutes(setup.routes, &*routes);
    relays = std::move(setup.relays);
  }
  if (absl::Status direct = AddDirectRoute(options.direct, &*routes); !direct.ok()) {
    return fail(kExitUsage, direct.message());
  }

  DiagnoseOptions diagnose = options.diagnose;
  // Each relay tries its routes in the order the user's software would.
  diagnose.relay_routes = RelayRouteOrder(relays, *routes, options.proxies.size());
  if (proxy_ca_transport != nullptr) diagnose.transport = proxy_ca_transport.get();
  auto ports = ParsePortFlags(options.ports);
  if (!ports.ok()) return fail(kExitUsage, ports.status().message());
  diagnose.allowed_ports = *std::move(ports);
  const std::string id_file =
      options.agent_id_file.empty() ? DefaultAgentIdPath() : options.agent_id_file;
  diagnose.agent = ThisAgent(options, id_file);
  // What a person answers to a 407 holds for the upload too.
  ProxyCredentialMemory credentials;
  diagnose.ask_credentials =
      credentials.Remembering(CredentialPrompt(options.proxy_user, io.env, io.terminal));
  std::map<uint64_t, AttemptTrace> traces;
  diagnose.traces = &traces;

  const bool talk = !options.json && !options.quiet;
  // Progress: one line per finished attempt, and on a terminal a live
  // status line under them.
  const bool tty = talk && io.out_is_terminal;
  const size_t planned = Plan(*catalogue, routes->routes, diagnose.allowed_ports).size();
  Progress progress(planned, tty);
  if (talk) {
    Write(io.out, RenderHeader(kAgentVersion, planned, *catalogue, routes->routes.size()));
    diagnose.on_attempt = [&progress, &io](const v1::Attempt& attempt) {
      Write(io.out, progress.Add(attempt));
      std::fflush(io.out);
    };
  }

  if (io.listen_for_stop) io.listen_for_stop();
  int exit_code = 0;
  for (int run = 1;; ++run) {
    traces.clear();
    progress.Reset();
    v1::SessionReport report = Diagnose(*catalogue, routes->routes, routes->discovered, diagnose);

    auto paths = WriteReports(report, ReportDirectory(options.report_dir, io.env), &traces);
    if (!paths.ok()) {
      Write(io.err,
            ErrorLine(absl::StrCat("could not write the reports: ", paths.status().message())));
    }
    if (options.json) {
      Write(io.out, RenderJson(report));
    } else {
      Write(io.out, RenderVerdict(report.verdict(), tty));
      if (paths.ok()) Write(io.out, RenderReportPaths(*paths));
    }
    // Only for someone looking at a console: not for --json, nor when the
    // output goes to a pipe or a file (a script, a scheduled task).
    if (run == 1 && paths.ok() && options.open_report && !options.json && io.out_is_terminal &&
        io.open_for_user) {
      io.open_for_user(paths->html);
    }
    // Telemetry goes after the verdict is shown: the user never waits on it.
    if (!options.collector.empty()) {
      const absl::Status sent =
          UploadTelemetry(report, options, io, talk,
                          CollectorUpload(options, *routes, collector_routes, credentials, id_file),
                          diagnose.ask_credentials);
      if (!sent.ok()) return fail(kExitConfig, sent.message());
    }
    exit_code = ExitCodeFor(report.verdict().status());
    if (command != AgentCommand::kWatch || run == options.count) break;
    // No way to wait is no way to be stopped: one run only.
    if (!io.stop_requested_within || io.stop_requested_within(options.interval)) break;
  }
  return exit_code;
}

}  // namespace relayscope::agent
