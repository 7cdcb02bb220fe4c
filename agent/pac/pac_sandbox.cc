#include "agent/pac/pac_sandbox.h"

#include <arpa/inet.h>
#include <duktape.h>
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

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/embedded_files.h"
#include "common/errno_text.h"

namespace relayscope {
// pac_helpers.js, embedded by relayscope_embed_files(SYMBOL PacHelperFiles).
const EmbeddedFile* PacHelperFiles(size_t* count);
}  // namespace relayscope

namespace relayscope::agent {
namespace {

constexpr size_t kMaxAnswerBytes = 64 << 10;
constexpr size_t kMaxScriptBytes = kMaxPacBytes;
constexpr size_t kMaxAlerts = 20;
constexpr size_t kMaxMessageBytes = 1 << 20;

// Messages from the child: one type byte, a 4-byte length, the payload.
enum Message : char {
  kAnswer = 'A',       // a query's result string
  kQueryError = 'E',   // a query's error
  kAlert = 'L',        // alert(message)
  kResolve = 'R',      // DNS question: flag byte ('1' = all addresses) + host
  kScriptError = 'S',  // the script does not load
  kNoMemory = 'M',     // the heap cap was hit
  kDone = 'D',
};

// ---- child side ----------------------------------------------------------

struct ChildState {
  int out_fd = -1;
  int in_fd = -1;
  size_t allocated = 0;
  size_t limit = 0;
  bool exhausted = false;
  int resolves_left = 0;
};
ChildState* g_child = nullptr;  // the child is single-threaded

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

void Send(Message type, const std::string& payload) {
  const uint32_t size = static_cast<uint32_t>(std::min(payload.size(), kMaxMessageBytes));
  char header[5] = {type};
  std::memcpy(header + 1, &size, 4);
  if (!WriteAll(g_child->out_fd, header, 5) || !WriteAll(g_child->out_fd, payload.data(), size)) {
    _exit(3);
  }
}

// The heap cap: every Duktape allocation goes through here.
void* CountingAlloc(void*, duk_size_t size) {
  if (g_child->allocated + size > g_child->limit) {
    g_child->exhausted = true;
    return nullptr;
  }
  void* p = malloc(size);
  if (p != nullptr) g_child->allocated += malloc_usable_size(p);
  return p;
}
void* CountingRealloc(void*, void* old, duk_size_t size) {
  const size_t before = old != nullptr ? malloc_usable_size(old) : 0;
  if (size > before && g_child->allocated + (size - before) > g_child->limit) {
    g_child->exhausted = true;
    return nullptr;
  }
  void* p = realloc(old, size);
  if (p == nullptr) return nullptr;
  g_child->allocated = g_child->allocated - before + malloc_usable_size(p);
  return p;
}
void CountingFree(void*, void* p) {
  if (p == nullptr) return;
  g_child->allocated -= malloc_usable_size(p);
  free(p);
}
void Fatal(void*, const char* message) {
  Send(g_child->exhausted ? kNoMemory : kScriptError,
       absl::StrCat("the PAC engine stopped: ", message ? message : "fatal error"));
  _exit(4);
}

duk_ret_t NativeResolve(duk_context* ctx) {
  const std::string host = duk_safe_to_string(ctx, 0);
  const bool all = duk_to_boolean(ctx, 1);
  if (g_child->resolves_left <= 0 || host.empty() || host.size() > 255) {
    duk_push_null(ctx);
    return 1;
  }
  --g_child->resolves_left;
  Send(kResolve, absl::StrCat(all ? "1" : "0", host));
  uint32_t size = 0;
  std::string answer;
  if (!ReadAll(g_child->in_fd, reinterpret_cast<char*>(&size), 4) || size > 65536) _exit(3);
  answer.resize(size);
  if (size > 0 && !ReadAll(g_child->in_fd, answer.data(), size)) _exit(3);
  if (answer.empty()) {
    duk_push_null(ctx);
  } else {
    duk_push_lstring(ctx, answer.data(), answer.size());
  }
  return 1;
}

duk_ret_t NativeAlert(duk_context* ctx) {
  static size_t alerts = 0;
  if (alerts++ < kMaxAlerts) {
    std::string message = duk_safe_to_string(ctx, 0);
    if (message.size() > 512) message.resize(512);
    Send(kAlert, message);
  }
  return 0;
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

[[noreturn]] void RunChild(const std::string& script, const std::vector<PacQuery>& queries,
                           const PacOptions& options, int out_fd, int in_fd) {
  ChildState state;
  state.out_fd = out_fd;
  state.in_fd = in_fd;
  state.limit = options.memory_limit;
  state.resolves_left = options.max_resolves;
  g_child = &state;

  // CPU backstop in case the parent cannot kill us.
  const rlim_t cpu = static_cast<rlim_t>(absl::ToInt64Seconds(options.time_limit)) + 1;
  rlimit limit{cpu, cpu + 1};
  setrlimit(RLIMIT_CPU, &limit);
  tzset();  // read the time zone before files become unreadable

  duk_context* ctx = duk_create_heap(CountingAlloc, CountingRealloc, CountingFree, nullptr, Fatal);
  if (ctx == nullptr) {
    Send(kScriptError, "cannot create the PAC engine");
    _exit(2);
  }
  if (!InstallSeccomp()) {
    Send(kScriptError, "cannot install the PAC sandbox (seccomp)");
    _exit(2);
  }
  duk_push_c_function(ctx, NativeResolve, 2);
  duk_put_global_string(ctx, "__rs_resolve");
  duk_push_c_function(ctx, NativeAlert, 1);
  duk_put_global_string(ctx, "__rs_alert");
  duk_push_number(ctx, static_cast<double>(absl::ToUnixMillis(options.now)));
  duk_put_global_string(ctx, "__rs_now");
  duk_idx_t ips = duk_push_array(ctx);
  for (size_t i = 0; i < options.my_addresses.size(); ++i) {
    duk_push_string(ctx, options.my_addresses[i].c_str());
    duk_put_prop_index(ctx, ips, static_cast<duk_uarridx_t>(i));
  }
  duk_put_global_string(ctx, "__rs_my_ips");

  size_t count = 0;
  const EmbeddedFile* helpers = PacHelperFiles(&count);
  if (count == 0 || duk_peval_lstring_noresult(ctx, helpers[0].data, helpers[0].size) != 0) {
    Send(kScriptError, "the PAC helper functions do not load");
    _exit(2);
  }
  if (duk_peval_lstring(ctx, script.data(), script.size()) != 0) {
    Send(state.exhausted ? kNoMemory : kScriptError,
         absl::StrCat("the PAC file does not run: ", duk_safe_to_string(ctx, -1)));
    _exit(0);
  }
  duk_pop(ctx);
  const char* function = "FindProxyForURLEx";
  duk_get_global_string(ctx, function);
  if (!duk_is_function(ctx, -1)) {
    duk_pop(ctx);
    function = "FindProxyForURL";
    duk_get_global_string(ctx, function);
    if (!duk_is_function(ctx, -1)) {
      Send(kScriptError, "the PAC file defines no FindProxyForURL function");
      _exit(0);
    }
  }
  duk_pop(ctx);
  for (const PacQuery& query : queries) {
    duk_get_global_string(ctx, function);
    duk_push_lstring(ctx, query.url.data(), query.url.size());
    duk_push_lstring(ctx, query.host.data(), query.host.size());
    if (duk_pcall(ctx, 2) != 0) {
      if (state.exhausted) {
        Send(kNoMemory, duk_safe_to_string(ctx, -1));
        _exit(0);
      }
      Send(kQueryError, absl::StrCat(function, " threw: ", duk_safe_to_string(ctx, -1)));
    } else if (!duk_is_string(ctx, -1)) {
      Send(kQueryError, absl::StrCat(function, " returned ",
                                     duk_is_null_or_undefined(ctx, -1) ? "nothing" : "a non-string",
                                     ", not a proxy list"));
    } else {
      duk_size_t size = 0;
      const char* text = duk_get_lstring(ctx, -1, &size);
      Send(kAnswer, std::string(text, std::min<size_t>(size, kMaxAnswerBytes)));
    }
    duk_pop(ctx);
  }
  Send(kDone, "");
  _exit(0);
}

// ---- parent side ---------------------------------------------------------

bool ReadMessage(int fd, absl::Time deadline, char* type, std::string* payload, bool* timed_out) {
  std::string header(5, '\0');
  auto read_some = [&](char* buffer, size_t want) -> bool {
    while (want > 0) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        *timed_out = true;
        return false;
      }
      pollfd p{fd, POLLIN, 0};
      const int ready = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) continue;
      const ssize_t n = read(fd, buffer, want);
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

}  // namespace

absl::StatusOr<PacEvaluation> EvaluatePac(const std::string& script,
                                          const std::vector<PacQuery>& queries,
                                          const PacOptions& options) {
  if (script.size() > kMaxScriptBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the PAC file is larger than ", kMaxScriptBytes >> 20, " MB"));
  }
  int to_parent[2], to_child[2];
  if (pipe2(to_parent, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(to_child, O_CLOEXEC) != 0) {
    close(to_parent[0]);
    close(to_parent[1]);
    return absl::InternalError("pipe failed");
  }
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) close(fd);
    return absl::InternalError(absl::StrCat("cannot start the PAC sandbox: ", ErrnoText(errno)));
  }
  if (pid == 0) {
    close(to_parent[0]);
    close(to_child[1]);
    RunChild(script, queries, options, to_parent[1], to_child[0]);
  }
  close(to_parent[1]);
  close(to_child[0]);
  // A child that dies mid-write must not kill us with SIGPIPE.
  struct sigaction ignore_pipe {
  }, previous_pipe{};
  ignore_pipe.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore_pipe, &previous_pipe);

  PacEvaluation evaluation;
  absl::Status failure;
  bool done = false, timed_out = false;
  absl::Time deadline = absl::Now() + options.time_limit;
  while (!done) {
    char type = 0;
    std::string payload;
    if (!ReadMessage(to_parent[0], deadline, &type, &payload, &timed_out)) break;
    switch (type) {
      case kAnswer:
        evaluation.answers.push_back({payload});
        break;
      case kQueryError:
        evaluation.answers.push_back({absl::InvalidArgumentError(payload)});
        break;
      case kAlert:
        evaluation.alerts.push_back(payload);
        break;
      case kScriptError:
        failure = absl::InvalidArgumentError(payload);
        break;
      case kNoMemory:
        failure = absl::ResourceExhaustedError(absl::StrCat("the PAC file used more than ",
                                                            options.memory_limit >> 20,
                                                            " MB of memory and was "
                                                            "stopped (",
                                                            payload, ")"));
        break;
      case kResolve: {
        // DNS time is ours, not the script's: it does not count against
        // the time limit.
        const absl::Time asked = absl::Now();
        std::vector<std::string> addresses;
        if (options.resolve && payload.size() > 1) {
          addresses = options.resolve(payload.substr(1), payload[0] == '1');
        }
        const bool all = payload[0] == '1';
        const std::string answer = addresses.empty() ? ""
                                   : all             ? absl::StrJoin(addresses, ";")
                                                     : addresses.front();
        const uint32_t size = static_cast<uint32_t>(answer.size());
        if (!WriteAll(to_child[1], reinterpret_cast<const char*>(&size), 4) ||
            !WriteAll(to_child[1], answer.data(), answer.size())) {
          done = true;
        }
        deadline += absl::Now() - asked;
        break;
      }
      case kDone:
        done = true;
        break;
      default:
        failure = absl::InternalError("the PAC sandbox sent garbage");
        break;
    }
  }
  if (!done) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  close(to_parent[0]);
  close(to_child[1]);
  sigaction(SIGPIPE, &previous_pipe, nullptr);

  if (!failure.ok()) return failure;
  if (timed_out || (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU)) {
    return absl::DeadlineExceededError(absl::StrCat("the PAC file ran longer than ",
                                                    absl::FormatDuration(options.time_limit),
                                                    " (an endless loop?) and was stopped"));
  }
  if (!done) {
    return absl::InternalError(
        absl::StrCat("the PAC sandbox ended unexpectedly",
                     WIFSIGNALED(status) ? absl::StrCat(" (signal ", WTERMSIG(status), ")") : ""));
  }
  if (evaluation.answers.size() != queries.size()) {
    return absl::InternalError("the PAC sandbox did not answer every query");
  }
  return evaluation;
}

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
