// The agent's commands below its flag parsing: `diagnose` (one diagnosis,
// verdict and reports, optional upload), `watch` (diagnose repeatedly to feed
// the collector) and `proxies` (what proxy discovery finds). main.cc turns
// flags into AgentOptions and runs RunAgent with the process's console; a
// test runs it with its own.
//
//   auto command = ParseCommand(positional_args);
//   AgentOptions options = ...;  // from flags
//   return RunAgent(*command, options, SystemIo(&terminal));
#ifndef AGENT_CLI_AGENT_COMMAND_H_
#define AGENT_CLI_AGENT_COMMAND_H_

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/cli/credentials.h"
#include "agent/cli/environment.h"
#include "agent/discovery/wpad.h"
#include "agent/session/diagnose.h"

namespace relayscope::agent {

inline constexpr char kAgentVersion[] = "0.1.0";

enum class AgentCommand { kDiagnose, kWatch, kProxies };

// The command from the positional arguments (argv[0] first, as
// absl::ParseCommandLine leaves them): none is diagnose. INVALID_ARGUMENT
// with the usage line for anything else.
absl::StatusOr<AgentCommand> ParseCommand(const std::vector<std::string>& args);

// Everything the flags say (see main.cc for each flag's meaning).
struct AgentOptions {
  // Empty: the catalogue built into the binary (BuiltInCatalogue()).
  std::string catalogue_path;
  std::vector<std::string> regions;
  std::vector<std::string> ports;
  std::vector<std::string> proxies;
  std::string proxy_user;
  // HTTPS proxies: the CA bundle to verify them with (empty: system roots).
  std::string proxy_ca_file;
  bool direct = true;
  bool discover = true;
  std::string proxy_file;
  std::vector<std::string> pac_urls;
  std::string windows_reg;
  // WPAD even where no setting turns auto-detection on, and where WPAD
  // looks (tests point it at their own lease files, resolv.conf, domain).
  bool wpad = false;
  WpadPlaces wpad_places;
  // The race settings, and whatever else a diagnosis takes from its caller;
  // RunAgent fills in the agent, ports, credentials, progress and traces.
  DiagnoseOptions diagnose;
  std::string report_dir;  // empty: ReportDirectory()'s temp dir
  // Windows: open connrpt.html for the user at the end, as the original
  // utility did (--no-open turns it off).
  bool open_report = true;
  bool json = false;
  bool quiet = false;
  std::string site;
  // The identity kept across runs; only read or written when `collector`
  // is set or this is given (empty: DefaultAgentIdPath()). Otherwise each
  // run has a fresh identity and leaves no file behind.
  std::string agent_id_file;
  std::string collector;  // empty: no upload
  bool insecure = false;
  std::string ca_file;
  std::string token_file;
  std::string spool_dir;  // empty: "spool" beside the agent id file
  absl::Duration upload_timeout = absl::Seconds(10);
  absl::Duration interval = absl::Minutes(5);
  int count = 0;  // watch: 0 runs until stopped
};

// The process around a command: its console, its environment, its terminal
// for credential prompts, and the stop signals that end a watch.
struct AgentIo {
  std::FILE* out = stdout;
  std::FILE* err = stderr;
  // stdout is a terminal: progress keeps a live status line.
  bool out_is_terminal = false;
  Environment env;
  Terminal* terminal = nullptr;  // null: never prompt
  // Called once before the first diagnosis: from then on SIGTERM and SIGINT
  // end a watch between two diagnoses. May be empty.
  std::function<void()> listen_for_stop;
  // Waits at most `interval` between two diagnoses of a watch; true when
  // asked to stop.
  std::function<bool(absl::Duration interval)> stop_requested_within;
  // Shows a report to the user (Windows: connrpt.html in the default
  // browser, as the original utility did), once, after the first
  // diagnosis, when AgentOptions::open_report. Empty: never (POSIX).
  std::function<void(const std::string& path)> open_for_user;
};

// stdout, stderr, getenv, `terminal`, common/cli.h's stop signals, and on
// Windows the shell's "open".
AgentIo SystemIo(Terminal* terminal);

// Per platform (terminal_posix.cc, terminal_windows.cc): stdout is a
// console or terminal; `path` opened by the desktop for the user (false
// when it could not be, or nothing does that here).
// PrepareConsole: on Windows the console shows UTF-8 and ANSI escapes (the
// live status line); nothing elsewhere.
bool StdoutIsTerminal();
bool OpenForUser(const std::string& path);
void PrepareConsole();

// Runs `command`; returns the exit status: 0 reachable, 1 degraded, 2
// unreachable (the last diagnosis of a watch), 0 for proxies, 64 for a usage
// error, 78 for a bad catalogue or token file. Errors are written to io.err
// as "relayscope-agent: <message>".
int RunAgent(AgentCommand command, const AgentOptions& options, const AgentIo& io);

// Where reports go: `flag`, else the user's temp directory as the platform
// names it: $TMPDIR when set and not empty, else /tmp; on Windows %TMP%,
// else %TEMP%, else %USERPROFILE% (GetTempPath's order), else C:\Windows\Temp.
std::string ReportDirectory(const std::string& flag, const Environment& env);

// The catalogue compiled into the agent (deploy/catalogue/aos.textproto,
// the production relays), used when no --catalogue is given, so the agent
// runs with no arguments and no file beside it.
absl::StatusOr<v1::Catalogue> BuiltInCatalogue();
// The name the built-in catalogue is shown and reported under.
inline constexpr char kBuiltInCatalogueName[] = "built-in catalogue (aos.textproto)";

// Where undelivered telemetry waits: `flag`, else "spool" in the directory
// of the agent id file.
std::string SpoolDirectory(const std::string& flag, const std::string& agent_id_file);

}  // namespace relayscope::agent

#endif  // AGENT_CLI_AGENT_COMMAND_H_
