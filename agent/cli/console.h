// What the agent shows a person on the console, as strings: the header, one
// progress line per finished attempt, the verdict block, where the reports
// are, how the upload went, and discovery's warnings; and the exit status a
// verdict maps to. Pure functions, so tests can read exactly what a user
// reads. No secret reaches any of them: attempts, verdicts and upload
// results hold none.
#ifndef AGENT_CLI_CONSOLE_H_
#define AGENT_CLI_CONSOLE_H_

#include <cstddef>
#include <string>

#include "agent/discovery/discover.h"
#include "agent/report/report_writer.h"
#include "agent/upload/uploader.h"
#include "relayscope/v1/catalogue.pb.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// The agent's exit statuses (sysexits.h for the last two).
inline constexpr int kExitReachable = 0;
inline constexpr int kExitDegraded = 1;
inline constexpr int kExitUnreachable = 2;
inline constexpr int kExitUsage = 64;   // EX_USAGE
inline constexpr int kExitConfig = 78;  // EX_CONFIG

// 0 reachable, 1 degraded, 2 for everything else (unreachable, or a verdict
// that could not say).
int ExitCodeFor(v1::VerdictStatus status);

// "REACHABLE", "DEGRADED" or "UNREACHABLE".
std::string StatusWord(v1::VerdictStatus status);

// "relayscope-agent: <message>\n": how every error and warning starts.
std::string ErrorLine(const std::string& message);

// `relayscope <version>: <n> attempts to <r> region(s) over <k> route(s),
// catalogue "<name>"` and a newline.
std::string RenderHeader(const std::string& version, size_t planned_attempts,
                         const v1::Catalogue& catalogue, size_t routes);

// "  [ ok ] <attempt>: <outcome>", or "  [FAIL] <attempt>: <outcome>
// (<detail>)" (no parentheses without a detail); no newline.
std::string RenderAttemptLine(const v1::Attempt& attempt);

// The progress of one diagnosis: counts the finished attempts and renders
// the text to write for each. On a terminal each write first erases the live
// "  ... i of n done" status line the previous one left under the list.
// Not thread-safe: Diagnose calls on_attempt one attempt at a time.
class Progress {
 public:
  Progress(size_t planned, bool terminal) : planned_(planned), terminal_(terminal) {}

  // Counts `attempt` and returns its line (and on a terminal the status
  // line after it).
  std::string Add(const v1::Attempt& attempt);
  // Back to no attempts finished, for the next diagnosis of a watch.
  void Reset() { done_ = failed_ = 0; }

 private:
  size_t planned_;
  bool terminal_;
  size_t done_ = 0;
  size_t failed_ = 0;
};

// The verdict block: "\nVerdict: <WORD>\n<summary>\n", a "  works:   ..."
// line per working path and "  blocked: <explanation>\n           -> <advice>"
// per blocker. On a terminal it first erases the live status line.
std::string RenderVerdict(const v1::Verdict& verdict, bool terminal);

// "\nReport: <html>\n        <text>\n        <json>\n".
std::string RenderReportPaths(const ReportPaths& paths);

// "Telemetry: <n> attempts delivered to <collector>[ over <route>] (<d> already known)"
// (and ", with <s> spooled batch(es) from earlier runs"), for stdout; empty
// when the upload failed (see RenderUploadProblems).
std::string RenderUploadSummary(const UploadResult& sent, const std::string& collector);

// The error lines, for stderr: telemetry not delivered (and where it
// waits), and the spool having dropped old batches. Empty when all went well.
std::string RenderUploadProblems(const UploadResult& sent, const std::string& spool_dir);

// Discovery's warnings and PAC errors, one error line each, for stderr.
std::string RenderDiscoveryWarnings(const ProxySetup& setup);

}  // namespace relayscope::agent

#endif  // AGENT_CLI_CONSOLE_H_
