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
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>

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
  kNoMemory = 'M',     // the heap cap was hit and the script failed for it
  kCapHit = 'C',       // an allocation was refused (the script may go on)
  kMemoryMark = 'H',   // the heap grew past another eighth of the cap
  kLoaded = 'O',       // the script loaded; the queries follow
  kDone = 'D',
};

// The time budgets of one evaluation. Loading gets time_limit plus
// time_limit per MB of script: compiling is linear in the size (a
// 16,000-rule list of 1.2 MB compiles in ~0.4 s on an idle machine), and a
// busy one must not refuse a file a browser runs. The whole evaluation's
// bound is the load and every query at their own limit, and never more
// than total_time_limit.
struct Budgets {
  absl::Duration load;
  absl::Duration total;
};
Budgets TimeBudgets(const PacOptions& options, const std::vector<PacQuery>& queries,
                    size_t script_bytes) {
  Budgets budgets;
  // The per-MB part in tenths of a second, so the limit reads "1s", "2.1s".
  const absl::Duration per_size =
      options.time_limit * (static_cast<double>(script_bytes) / static_cast<double>(1 << 20));
  budgets.load = options.time_limit + absl::Floor(per_size, absl::Milliseconds(100));
  budgets.total =
      std::min(options.total_time_limit,
               budgets.load + options.time_limit * static_cast<int64_t>(queries.size()));
  return budgets;
}

bool IsValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      code = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      code = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      code = (code << 6) | (d & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 1 && code < 0x80) || (n == 2 && code < 0x800) || (n == 3 && code < 0x10000) ||
        (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// What the engine reads: UTF-8 without its byte-order mark; a file that is
// not valid UTF-8 is read as ISO-8859-1, as browsers read a PAC served
// without a charset (Microsoft's ISA/CARP scripts carry Latin-1 comments).
std::string DecodePacSource(const std::string& script) {
  if (absl::StartsWith(script, "\xEF\xBB\xBF")) return script.substr(3);
  if (IsValidUtf8(script)) return script;
  std::string out;
  out.reserve(script.size() + script.size() / 8);
  for (const char ch : script) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else {
      out.push_back(static_cast<char>(0xc0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
    }
  }
  return out;
}

// ---- child side ----------------------------------------------------------

struct ChildState {
  int out_fd = -1;
  int in_fd = -1;
  size_t allocated = 0;
  size_t next_mark = 0;  // the heap size at which to send the next kMemoryMark
  size_t limit = 0;
  bool exhausted = false;
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

void Send(Message type, const std::string& payload);

// The first refused allocation is told to the parent at once: a script
// that catches the error and loops on must still be named as out of memory.
void NoteExhausted() {
  if (g_child->exhausted) return;
  g_child->exhausted = true;
  Send(kCapHit, "");
}

// Heap growth is told to the parent in eighths of the cap, so a script
// stopped by its time while building something huge (a 1 GB string by
// join, an array filled element by element) is named as a memory problem.
void NoteGrowth() {
  if (g_child->allocated < g_child->next_mark) return;
  g_child->next_mark = g_child->allocated + g_child->limit / 8;
  Send(kMemoryMark, std::to_string(g_child->allocated));
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
    NoteExhausted();
    return nullptr;
  }
  void* p = malloc(size);
  if (p != nullptr) {
    g_child->allocated += malloc_usable_size(p);
    NoteGrowth();
  }
  return p;
}
void* CountingRealloc(void*, void* old, duk_size_t size) {
  const size_t before = old != nullptr ? malloc_usable_size(old) : 0;
  if (size > before && g_child->allocated + (size - before) > g_child->limit) {
    NoteExhausted();
    return nullptr;
  }
  void* p = realloc(old, size);
  if (p == nullptr) return nullptr;
  g_child->allocated = g_child->allocated - before + malloc_usable_size(p);
  NoteGrowth();
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
  if (host.empty() || host.size() > 255) {
    duk_push_null(ctx);
    return 1;
  }
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

// ES2015 constructs Duktape (an ES5.1 engine, like Windows' own PAC engine)
// cannot parse, found by a small scan that skips comments, strings and
// regular expressions. Returns the construct's name and its line.
std::optional<std::pair<std::string, int>> FindNewerSyntax(const std::string& s, int only_line) {
  int line = 1;
  char last = '(';  // the last significant character, to tell / from a RegExp
  auto is_ident = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
  };
  auto word_at = [&](size_t i, const char* w) {
    const size_t n = std::strlen(w);
    return s.compare(i, n, w) == 0 && (i == 0 || !is_ident(s[i - 1])) &&
           (i + n >= s.size() || !is_ident(s[i + n]));
  };
  auto next_significant = [&](size_t i) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    return i < s.size() ? s[i] : '\0';
  };
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\n') {
      ++line;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    std::optional<std::string> found;
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '/') {
      while (i < s.size() && s[i] != '\n') ++i;
      --i;
      continue;
    }
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      for (i += 2; i + 1 < s.size() && !(s[i] == '*' && s[i + 1] == '/'); ++i) line += s[i] == '\n';
      ++i;
      continue;
    }
    if (c == '"' || c == '\'' || (c == '/' && std::strchr("(,=:[!&|?{};+-*%<>~^", last))) {
      bool in_class = false;
      for (++i; i < s.size() && s[i] != '\n'; ++i) {
        if (s[i] == '\\') {
          ++i;
        } else if (c == '/' && s[i] == '[') {
          in_class = true;
        } else if (c == '/' && s[i] == ']') {
          in_class = false;
        } else if (s[i] == c && !in_class) {
          break;
        }
      }
      last = 'a';
      continue;
    }
    if (c == '`') {
      found = "a template literal (`...`)";
    } else if (c == '=' && i + 1 < s.size() && s[i + 1] == '>') {
      found = "an arrow function (`=>`)";
    } else if (s.compare(i, 3, "...") == 0) {
      found = "spread or rest (`...`)";
    } else if (word_at(i, "let") &&
               (is_ident(next_significant(i + 3)) || next_significant(i + 3) == '[' ||
                next_significant(i + 3) == '{')) {
      found = "`let`";
    } else if (word_at(i, "class") && is_ident(next_significant(i + 5))) {
      found = "a class";
    } else if (word_at(i, "of") && last != '.') {
      // for (x of y): the word right before "of" ends a declaration.
      const size_t open = s.rfind("for", i);
      if (open != std::string::npos && i - open < 40 && s.find(';', open) > i &&
          s.find(')', open) > i) {
        found = "a `for ... of` loop";
      }
    }
    if (found && (only_line == 0 || line == only_line)) return std::make_pair(*found, line);
    last = c;
  }
  return std::nullopt;
}

std::string DescribeLoadError(const std::string& script, const std::string& error, int line) {
  if (absl::StrContains(error, "const limit")) {
    return absl::StrCat(
        "the PAC file has too many constants in one function (more than the 65,535 the PAC "
        "engine holds: a very large object or array literal?",
        line > 0 ? absl::StrCat(" at line ", line) : "", "), so it cannot run (", error, ")");
  }
  if (absl::StrContains(error, "register limit") || absl::StrContains(error, "temp limit")) {
    return absl::StrCat(
        "the PAC file has too many variables or nested expressions in one "
        "function for the PAC engine, so it cannot run (",
        error, ")");
  }
  if (absl::StartsWith(error, "SyntaxError")) {
    auto newer = line > 0 ? FindNewerSyntax(script, line) : std::nullopt;
    if (!newer) newer = FindNewerSyntax(script, 0);
    if (newer) {
      return absl::StrCat(
          "the PAC file uses JavaScript newer than ES5 (", newer->first, " at line ", newer->second,
          "), which this PAC engine (like Windows' own) does not run (", error, ")");
    }
  }
  return absl::StrCat("the PAC file does not run: ", error);
}

[[noreturn]] void RunChild(const std::string& script, const std::vector<PacQuery>& queries,
                           const PacOptions& options, int out_fd, int in_fd) {
  ChildState state;
  state.out_fd = out_fd;
  state.in_fd = in_fd;
  state.limit = options.memory_limit;
  state.next_mark = options.memory_limit / 8;  // a PAC's own heap stays far below
  g_child = &state;

  // CPU backstop in case the parent cannot kill us.
  const rlim_t cpu = static_cast<rlim_t>(
                         absl::ToInt64Seconds(TimeBudgets(options, queries, script.size()).total)) +
                     1;
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
    if (state.exhausted) {
      Send(kNoMemory, duk_safe_to_string(ctx, -1));
      _exit(0);
    }
    const std::string error = duk_safe_to_string(ctx, -1);
    int line = 0;
    if (duk_is_object(ctx, -1)) {
      duk_get_prop_string(ctx, -1, "lineNumber");
      line = duk_is_number(ctx, -1) ? duk_get_int(ctx, -1) : 0;
      duk_pop(ctx);
    }
    Send(kScriptError, DescribeLoadError(script, error, line));
    _exit(0);
  }
  duk_pop(ctx);
  Send(kLoaded, "");
  // WinHTTP asks FindProxyForURLEx when a script defines it; Chromium only
  // ever calls FindProxyForURL. We follow WinHTTP here, the one place we
  // depart from Chromium: only scripts written for Windows clients define
  // the Ex entry point, and their authors mean it to be the answer.
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

// The script's DNS, answered in this process: one cache for the whole
// evaluation, a lookup budget per step (the load, then each query), and a
// warning for every lookup the budget refused.
class ScriptDns {
 public:
  explicit ScriptDns(const PacOptions& options)
      : options_(options), lookups_left_(options.max_resolves) {}

  // The answer to a kResolve payload: flag byte ('1' = all addresses) +
  // host; "" when there is none.
  std::string Answer(const std::string& payload, bool loaded) {
    const bool all = !payload.empty() && payload[0] == '1';
    const std::string host = payload.size() > 1 ? payload.substr(1) : "";
    auto cached = cache_.find(payload);
    if (cached != cache_.end()) return cached->second;
    if (lookups_left_ <= 0) {
      warnings_.push_back(
          absl::StrCat(all ? "dnsResolveEx(\"" : "dnsResolve(\"", host,
                       "\") was not looked up: the PAC file had used its ", options_.max_resolves,
                       " DNS lookups ", loaded ? "for this query" : "while loading",
                       ", so it saw the host as unknown and may have chosen a different route"));
      return "";
    }
    --lookups_left_;
    std::vector<std::string> addresses;
    if (options_.resolve && !host.empty()) addresses = options_.resolve(host, all);
    std::string answer = addresses.empty() ? ""
                         : all             ? absl::StrJoin(addresses, ";")
                                           : addresses.front();
    cache_[payload] = answer;
    return answer;
  }

  // Starts the next step's budget; returns the warnings of the one ending.
  std::vector<std::string> EndStep() {
    lookups_left_ = options_.max_resolves;
    return std::exchange(warnings_, {});
  }

 private:
  const PacOptions& options_;
  int lookups_left_;
  std::map<std::string, std::string> cache_;
  std::vector<std::string> warnings_;
};

// A query's answer with the warnings of the load (they affect every
// answer) and of its own step.
PacAnswer MakeAnswer(char type, const std::string& payload,
                     const std::vector<std::string>& load_warnings,
                     std::vector<std::string> step_warnings) {
  PacAnswer answer;
  if (type == kAnswer) {
    answer.result = payload;
  } else {
    answer.result = absl::InvalidArgumentError(payload);
  }
  answer.warnings = load_warnings;
  for (std::string& warning : step_warnings) answer.warnings.push_back(std::move(warning));
  return answer;
}

absl::Status NoMemoryStatus(const PacOptions& options, const std::string& engine_message) {
  return absl::ResourceExhaustedError(
      absl::StrCat("the PAC file used more than ", options.memory_limit >> 20,
                   " MB of memory and was stopped (", engine_message, ")"));
}

// Why a child that did not finish was stopped, in plain words.
absl::Status StoppedStatus(const PacOptions& options, const std::vector<PacQuery>& queries,
                           const Budgets& budgets, bool cap_hit, size_t peak_heap, bool loaded,
                           bool past_total, size_t answered) {
  if (cap_hit) {
    // It hit the heap cap first and then spun (catching the error, or
    // copying what it had): memory is the cause, not an endless loop.
    return absl::ResourceExhaustedError(absl::StrCat(
        "the PAC file tried to use more than ", options.memory_limit >> 20,
        " MB of memory and was stopped (it went on after the allocation was refused)"));
  }
  if (peak_heap > 0) {
    // Out of time while its heap kept growing: it was building something
    // larger than memory allows, not looping.
    return absl::ResourceExhaustedError(absl::StrCat(
        "the PAC file was still allocating memory (", peak_heap >> 20, " MB of the ",
        options.memory_limit >> 20,
        " MB allowed) when its time ran out: it builds something too large (a string or "
        "array of a gigabyte?) and was stopped"));
  }
  if (past_total) {
    return absl::DeadlineExceededError(absl::StrCat(
        "the PAC file ran longer than ", absl::FormatDuration(budgets.total), " for ",
        queries.size(), queries.size() == 1 ? " query" : " queries", " together and was stopped"));
  }
  if (!loaded) {
    return absl::DeadlineExceededError(absl::StrCat(
        "the PAC file ran longer than ", absl::FormatDuration(budgets.load),
        " while loading (an endless loop, or work on a huge array or string?) and was stopped"));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("the PAC file ran longer than ", absl::FormatDuration(options.time_limit),
                   " for ", answered < queries.size() ? queries[answered].url : "a query",
                   " (an endless loop, or work on a huge array or string?) and was stopped"));
}

// Forks the sandbox child with its two pipes; the parent keeps
// to_parent[0] and to_child[1].
absl::Status StartChild(const std::string& script, const std::vector<PacQuery>& queries,
                        const PacOptions& options, pid_t* pid, int to_parent[2], int to_child[2]) {
  if (pipe2(to_parent, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(to_child, O_CLOEXEC) != 0) {
    close(to_parent[0]);
    close(to_parent[1]);
    return absl::InternalError("pipe failed");
  }
  *pid = fork();
  if (*pid < 0) {
    for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) close(fd);
    return absl::InternalError(absl::StrCat("cannot start the PAC sandbox: ", ErrnoText(errno)));
  }
  if (*pid == 0) {
    close(to_parent[0]);
    close(to_child[1]);
    RunChild(script, queries, options, to_parent[1], to_child[0]);
  }
  close(to_parent[1]);
  close(to_child[0]);
  return absl::OkStatus();
}

}  // namespace

namespace {

// One sandbox run of the decoded `script` over `queries`. When it fails,
// `partial` holds what was answered before, and `query_stuck` says the
// failure was one query outliving its own time limit (not the load, the
// total bound or memory), so the queries after it may still be asked.
absl::StatusOr<PacEvaluation> RunSandbox(const std::string& script,
                                         const std::vector<PacQuery>& queries,
                                         const PacOptions& options, PacEvaluation* partial,
                                         bool* query_stuck) {
  *query_stuck = false;
  int to_parent[2], to_child[2];
  pid_t pid = -1;
  if (absl::Status started = StartChild(script, queries, options, &pid, to_parent, to_child);
      !started.ok()) {
    return started;
  }
  // A child that dies mid-write must not kill us with SIGPIPE.
  struct sigaction ignore_pipe {
  }, previous_pipe{};
  ignore_pipe.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore_pipe, &previous_pipe);

  PacEvaluation evaluation;
  absl::Status failure;
  bool done = false, timed_out = false, loaded = false, cap_hit = false;
  size_t peak_heap = 0;  // the last kMemoryMark, 0 while the heap stays small
  // Two clocks: the load, then each query, has its own budget (restarted
  // when the previous one answers); the whole evaluation has its bound.
  // DNS time is ours, not the script's: it moves both.
  const absl::Time start = absl::Now();
  const Budgets budgets = TimeBudgets(options, queries, script.size());
  absl::Time step_deadline = start + budgets.load;
  absl::Time total_deadline = start + budgets.total;
  ScriptDns dns(options);
  std::vector<std::string> load_warnings;
  while (!done) {
    char type = 0;
    std::string payload;
    if (!ReadMessage(to_parent[0], std::min(step_deadline, total_deadline), &type, &payload,
                     &timed_out)) {
      break;
    }
    switch (type) {
      case kLoaded:
        loaded = true;
        load_warnings = dns.EndStep();
        step_deadline = absl::Now() + options.time_limit;
        break;
      case kAnswer:
      case kQueryError:
        evaluation.answers.push_back(MakeAnswer(type, payload, load_warnings, dns.EndStep()));
        step_deadline = absl::Now() + options.time_limit;
        break;
      case kAlert:
        evaluation.alerts.push_back(payload);
        break;
      case kCapHit:
        cap_hit = true;
        break;
      case kMemoryMark:
        peak_heap = std::max<size_t>(peak_heap, std::strtoull(payload.c_str(), nullptr, 10));
        break;
      case kScriptError:
        failure = absl::InvalidArgumentError(payload);
        break;
      case kNoMemory:
        cap_hit = true;
        failure = NoMemoryStatus(options, payload);
        break;
      case kResolve: {
        const absl::Time asked = absl::Now();
        const std::string answer = dns.Answer(payload, loaded);
        const uint32_t size = static_cast<uint32_t>(answer.size());
        if (!WriteAll(to_child[1], reinterpret_cast<const char*>(&size), 4) ||
            !WriteAll(to_child[1], answer.data(), answer.size())) {
          done = true;
        }
        const absl::Duration spent = absl::Now() - asked;
        step_deadline += spent;
        total_deadline += spent;
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
    const bool past_total = absl::Now() >= total_deadline;
    *query_stuck = loaded && !past_total && !cap_hit && peak_heap == 0 &&
                   evaluation.answers.size() < queries.size();
    const size_t answered = evaluation.answers.size();
    *partial = std::move(evaluation);
    return StoppedStatus(options, queries, budgets, cap_hit, peak_heap, loaded, past_total,
                         answered);
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

}  // namespace

absl::StatusOr<PacEvaluation> EvaluatePac(const std::string& raw_script,
                                          const std::vector<PacQuery>& queries,
                                          const PacOptions& options) {
  if (raw_script.size() > kMaxScriptBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the PAC file is larger than ", kMaxScriptBytes >> 20, " MB"));
  }
  const std::string script = DecodePacSource(raw_script);
  // A query that outlives its own time fails alone, as in a browser, which
  // asks per URL: a fresh sandbox asks the queries after it. Two stuck
  // queries in a row, or none answered at all, spoil the script: then the
  // first one's status is the answer, as before.
  PacEvaluation all;
  std::optional<absl::Status> first_stuck;
  bool previous_stuck = false;
  bool any_answered = false;
  size_t next = 0;
  while (true) {
    const std::vector<PacQuery> rest(queries.begin() + static_cast<std::ptrdiff_t>(next),
                                     queries.end());
    PacEvaluation partial;
    bool stuck = false;
    absl::StatusOr<PacEvaluation> run = RunSandbox(script, rest, options, &partial, &stuck);
    if (run.ok()) {
      any_answered = any_answered || !run->answers.empty();
      for (PacAnswer& a : run->answers) all.answers.push_back(std::move(a));
      for (std::string& a : run->alerts) all.alerts.push_back(std::move(a));
      break;
    }
    if (!stuck || (previous_stuck && partial.answers.empty())) {
      return first_stuck.value_or(run.status());
    }
    if (!first_stuck) first_stuck = run.status();
    any_answered = any_answered || !partial.answers.empty();
    for (PacAnswer& a : partial.answers) all.answers.push_back(std::move(a));
    for (std::string& a : partial.alerts) all.alerts.push_back(std::move(a));
    all.answers.push_back(PacAnswer{run.status(), {}});
    next += partial.answers.size() + 1;
    previous_stuck = true;
    if (next >= queries.size()) break;
  }
  if (!any_answered && first_stuck) return *first_stuck;
  if (all.alerts.size() > kMaxAlerts) all.alerts.resize(kMaxAlerts);  // across the runs too
  return all;
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
