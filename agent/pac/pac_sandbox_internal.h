// The seam between the PAC sandbox's portable part (pac_sandbox.cc: the
// Duktape evaluation in the child, the message protocol, the parent's DNS
// service, limits and how a stop is named) and its per-platform process
// part (pac_sandbox_posix.cc: a forked child under seccomp;
// pac_sandbox_windows.cc: the agent's own executable in a Job object under
// a restricted token). Not for use outside agent/pac.
#ifndef AGENT_PAC_PAC_SANDBOX_INTERNAL_H_
#define AGENT_PAC_PAC_SANDBOX_INTERNAL_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/pac/pac_sandbox.h"

namespace relayscope::agent::pac_internal {

// Messages from the child: one type byte, a 4-byte length (host order:
// parent and child are the same program), the payload. The parent answers
// a kResolve with a 4-byte length and the addresses.
enum Message : char {
  kAnswer = 'A',       // a query's result string
  kQueryError = 'E',   // a query's error
  kAlert = 'L',        // alert(message)
  kResolve = 'R',      // DNS question: flag byte ('1' = all addresses) + host
  kScriptError = 'S',  // the script does not load
  kNoMemory = 'M',     // the heap cap was hit and the script failed for it
  kCapHit = 'C',       // an allocation was refused (the script may go on)
  kMemoryMark = 'H',   // the heap grew past another eighth of the cap
  kLoaded = 'O',       // the script loaded; the queries follow
  kDone = 'D',
};
inline constexpr size_t kMaxMessageBytes = 1 << 20;

// The time budgets of one evaluation (see TimeBudgets in pac_sandbox.cc).
struct Budgets {
  absl::Duration load;
  absl::Duration total;
};
Budgets TimeBudgets(const PacOptions& options, const std::vector<PacQuery>& queries,
                    size_t script_bytes);

// ---- the child ----

// One end of a pipe: a file descriptor, or a Windows HANDLE.
#ifdef _WIN32
using PipeEnd = void*;
#else
using PipeEnd = int;
#endif

// The child's two pipe ends: blocking, whole-buffer reads and writes;
// false when the other end is gone. Each platform file defines Write and
// Read. Not a virtual interface on purpose: UBSan checks a virtual call by
// probing the vtable's memory through a pipe(2) it creates, which the
// seccomp filter refuses, so every call in the child was reported as
// undefined behaviour in the sanitizer build.
class ChildChannel {
 public:
  ChildChannel(PipeEnd out, PipeEnd in) : out_(out), in_(in) {}
  bool Write(const char* data, size_t size) const;
  bool Read(char* data, size_t size) const;

 private:
  PipeEnd out_;
  PipeEnd in_;
};

// Evaluates `script` for `queries` and tells the parent over `channel`;
// exits the process when done. Uses only memory_limit, now and
// my_addresses of `options`. `lock_down` runs once the engine's heap exists
// and before the script is read: it returns "" or why the sandbox could not
// be closed (then the child reports that and exits).
[[noreturn]] void RunChild(const std::string& script, const std::vector<PacQuery>& queries,
                           const PacOptions& options, const ChildChannel* channel,
                           absl::FunctionRef<std::string()> lock_down);

// The size the C library really gave an allocation (glibc's
// malloc_usable_size, the Windows CRT's _msize): what the heap cap counts.
size_t AllocationSize(void* allocation);

// What a child needs that it cannot inherit from a fork (the Windows child
// is a fresh process): the script, the queries and the options RunChild
// reads, as bytes for its stdin.
std::string EncodeChildRequest(const std::string& script, const std::vector<PacQuery>& queries,
                               const PacOptions& options);
// INVALID_ARGUMENT for bytes EncodeChildRequest did not write.
absl::Status DecodeChildRequest(const std::string& bytes, std::string* script,
                                std::vector<PacQuery>* queries, PacOptions* options);

// ---- the parent ----

// A running sandbox child, as its parent sees it.
class SandboxProcess {
 public:
  virtual ~SandboxProcess() = default;
  // One message, waiting at most until `deadline`; false when the child is
  // gone, sent too much, or the deadline passed (then *timed_out is set).
  virtual bool ReadMessage(absl::Time deadline, char* type, std::string* payload,
                           bool* timed_out) = 0;
  // To the child's input (DNS answers); false when it is gone.
  virtual bool Write(const char* data, size_t size) = 0;
  struct Ending {
    bool cpu_limit = false;  // the CPU-time backstop stopped it
    std::string how;         // "signal 11", "exit code 0xC0000005", ...; "" for a clean exit
  };
  // Kills the child first when `kill`; waits for it; closes its pipes.
  virtual Ending Finish(bool kill) = 0;
};

// Starts a sandbox child for `script` and `queries`; INTERNAL naming why
// when it cannot.
absl::StatusOr<std::unique_ptr<SandboxProcess>> StartSandboxProcess(
    const std::string& script, const std::vector<PacQuery>& queries, const PacOptions& options);

}  // namespace relayscope::agent::pac_internal

#endif  // AGENT_PAC_PAC_SANDBOX_INTERNAL_H_
