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

// absl keeps only the last of a repeated flag; for list flags people
// expect the repeats to add up ("--proxy=A --proxy=B" tries both, as with
// curl's -H). Returns `args` (names already normalized) with every
// occurrence of the flags in `list_flags` ("--name=v" or "--name v")
// joined, comma-separated, into one "--name=v1,v2" where the first one
// was. Empty values add nothing; "--" ends the flags.
std::vector<std::string> JoinRepeatedFlags(std::vector<std::string> args,
                                           const std::vector<std::string>& list_flags);

// The one way the relayscope binaries parse their command line: dashes in
// flag names become underscores, list flags accumulate (JoinRepeatedFlags),
// --help lists the binary's own flags (absl's default finds none outside
// main.cc), --version prints "<program> <relayscope version>"; then
// absl::ParseCommandLine, which exits on a bad flag, --help or --version.
// `list_flags` in the underscore spelling ("pac_url"). Returns the
// positional arguments, program name first.
std::vector<std::string> ParseCommandLine(int argc, char** argv, const std::string& usage,
                                          const std::vector<std::string>& list_flags = {});

// "relayscope <version>", the version this binary was built as.
std::string VersionString();

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
