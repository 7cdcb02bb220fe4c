// The PAC sandbox's process on Linux (and other POSIX systems): a forked
// child that closes itself under a libseccomp filter once the engine's heap
// exists, with RLIMIT_CPU as the backstop of the parent's wall-clock
// limits; and the resolver and interface list of pac_sandbox.h.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <net/if.h>
#include <netdb.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/pac/pac_sandbox.h"
#include "agent/pac/pac_sandbox_internal.h"
#include "common/errno_text.h"

namespace relayscope::agent {
namespace pac_internal {
namespace {

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}
bool ReadAll(int fd, char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// AddressSanitizer reads the signal stack (sigaltstack) on every noreturn
// call, _exit included, and aborts if it cannot: sanitizer builds (the
// fuzz targets, RELAYSCOPE_SANITIZE) allow that one harmless call.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

// Only what an interpreter needs to compute and talk over its two pipes;
// anything else (open, socket, connect, execve, fork, ...) fails with
// EPERM.
bool InstallSeccomp() {
  scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (filter == nullptr) return false;
  for (int syscall : {SCMP_SYS(read),          SCMP_SYS(write),        SCMP_SYS(exit),
                      SCMP_SYS(exit_group),    SCMP_SYS(brk),          SCMP_SYS(mmap),
                      SCMP_SYS(munmap),        SCMP_SYS(mremap),       SCMP_SYS(mprotect),
                      SCMP_SYS(madvise),       SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
                      SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(time),
                      SCMP_SYS(futex),         SCMP_SYS(getpid),       SCMP_SYS(gettid),
                      SCMP_SYS(fstat),         SCMP_SYS(newfstatat)}) {
    if (seccomp_rule_add(filter, SCMP_ACT_ALLOW, syscall, 0) != 0) {
      seccomp_release(filter);
      return false;
    }
  }
  if (kAddressSanitizer &&
      seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(sigaltstack), 0) != 0) {
    seccomp_release(filter);
    return false;
  }
  const bool loaded = seccomp_load(filter) == 0;
  seccomp_release(filter);
  return loaded;
}

class ForkedChild final : public SandboxProcess {
 public:
  ForkedChild(pid_t pid, int from_child, int to_child, struct sigaction previous_pipe)
      : pid_(pid), from_child_(from_child), to_child_(to_child), previous_pipe_(previous_pipe) {}
  ~ForkedChild() override {
    if (pid_ > 0) Finish(true);
  }

  bool ReadMessage(absl::Time deadline, char* type, std::string* payload,
                   bool* timed_out) override {
    std::string header(5, '\0');
    auto read_some = [&](char* buffer, size_t want) -> bool {
      while (want > 0) {
        const absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) {
          *timed_out = true;
          return false;
        }
        pollfd p{from_child_, POLLIN, 0};
        const int ready = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) continue;
        const ssize_t n = read(from_child_, buffer, want);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        buffer += n;
        want -= static_cast<size_t>(n);
      }
      return true;
    };
    if (!read_some(header.data(), 5)) return false;
    *type = header[0];
    uint32_t size = 0;
    std::memcpy(&size, header.data() + 1, 4);
    if (size > kMaxMessageBytes) return false;
    payload->resize(size);
    return size == 0 || read_some(payload->data(), size);
  }

  bool Write(const char* data, size_t size) override { return WriteAll(to_child_, data, size); }

  Ending Finish(bool kill_it) override {
    Ending ending;
    if (pid_ <= 0) return ending;
    if (kill_it) kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    close(from_child_);
    close(to_child_);
    sigaction(SIGPIPE, &previous_pipe_, nullptr);
    ending.cpu_limit = WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU;
    if (WIFSIGNALED(status)) ending.how = absl::StrCat("signal ", WTERMSIG(status));
    return ending;
  }

 private:
  pid_t pid_;
  int from_child_;
  int to_child_;
  struct sigaction previous_pipe_;
};

}  // namespace

bool ChildChannel::Write(const char* data, size_t size) const { return WriteAll(out_, data, size); }
bool ChildChannel::Read(char* data, size_t size) const { return ReadAll(in_, data, size); }

size_t AllocationSize(void* allocation) { return malloc_usable_size(allocation); }

absl::StatusOr<std::unique_ptr<SandboxProcess>> StartSandboxProcess(
    const std::string& script, const std::vector<PacQuery>& queries, const PacOptions& options) {
  int to_parent[2], to_child[2];
  if (pipe2(to_parent, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(to_child, O_CLOEXEC) != 0) {
    close(to_parent[0]);
    close(to_parent[1]);
    return absl::InternalError("pipe failed");
  }
  // A child that dies mid-write must not kill us with SIGPIPE.
  struct sigaction ignore_pipe {
  }, previous_pipe{};
  ignore_pipe.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore_pipe, &previous_pipe);
  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) close(fd);
    sigaction(SIGPIPE, &previous_pipe, nullptr);
    return absl::InternalError(absl::StrCat("cannot start the PAC sandbox: ", ErrnoText(error)));
  }
  if (pid == 0) {
    close(to_parent[0]);
    close(to_child[1]);
    // CPU backstop in case the parent cannot kill us.
    const rlim_t cpu = static_cast<rlim_t>(absl::ToInt64Seconds(
                           TimeBudgets(options, queries, script.size()).total)) +
                       1;
    rlimit limit{cpu, cpu + 1};
    setrlimit(RLIMIT_CPU, &limit);
    tzset();  // read the time zone before files become unreadable

    const ChildChannel channel(to_parent[1], to_child[0]);
    RunChild(script, queries, options, &channel, [] {
      return InstallSeccomp() ? std::string()
                              : std::string("cannot install the PAC sandbox (seccomp)");
    });
  }
  close(to_parent[1]);
  close(to_child[0]);
  return std::make_unique<ForkedChild>(pid, to_parent[0], to_child[1], previous_pipe);
}

}  // namespace pac_internal

void RunPacSandboxChildIfAsked(int, char**) {}  // a forked child needs no entry point

std::vector<std::string> SystemResolve(const std::string& host, bool all) {
  addrinfo hints{};
  hints.ai_family = all ? AF_UNSPEC : AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  std::vector<std::string> out;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0) return out;
  for (addrinfo* a = result; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* address =
        a->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
    if (inet_ntop(a->ai_family, address, text, sizeof(text)) != nullptr &&
        std::find(out.begin(), out.end(), text) == out.end()) {
      out.push_back(text);
    }
  }
  freeaddrinfo(result);
  return out;
}

std::vector<std::string> LocalAddresses() {
  std::vector<std::string> addresses, loopback;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return {"127.0.0.1"};
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    const int family = i->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    char text[INET6_ADDRSTRLEN] = {};
    const void* address =
        family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr);
    if (inet_ntop(family, address, text, sizeof(text)) == nullptr) continue;
    const std::string s = text;
    if (absl::StartsWith(s, "fe80")) continue;  // link-local: not an identity
    ((i->ifa_flags & IFF_LOOPBACK) ? loopback : addresses).push_back(s);
  }
  freeifaddrs(list);
  addresses.insert(addresses.end(), loopback.begin(), loopback.end());
  return addresses;
}

}  // namespace relayscope::agent
