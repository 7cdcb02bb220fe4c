// Command-line helpers shared by the relayscope binaries.
#ifndef COMMON_CLI_H_
#define COMMON_CLI_H_

#include <string>
#include <vector>

namespace relayscope {

// absl flags are spelled with underscores; people type dashes
// (--report-dir). Returns argv with dashes in flag names ("--a-b=c-d" ->
// "--a_b=c-d") turned into underscores; values and positional arguments are
// left alone, and "--" ends the flags.
std::vector<std::string> NormalizeFlagNames(int argc, char** argv);

// Keeps `storage` alive and gives the argc/argv view absl::ParseCommandLine
// wants.
std::vector<char*> ArgvPointers(std::vector<std::string>& storage);

// Installs SIGTERM/SIGINT handlers; call early in main. A handler (not
// sigwait) because libraries such as gRPC start threads before main, with
// the signals unblocked, so any thread may receive them.
void InstallStopSignalHandlers();

// Blocks until SIGTERM or SIGINT arrives; returns the signal number.
int WaitForStopSignal();

// Waits at most `timeout_ms` for SIGTERM or SIGINT; true if one arrived
// (InstallStopSignalHandlers must have been called).
bool StopSignalWithin(int timeout_ms);

}  // namespace relayscope

#endif  // COMMON_CLI_H_
