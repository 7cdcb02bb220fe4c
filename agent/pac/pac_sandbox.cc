#include "agent/pac/pac_sandbox.h"

#include <duktape.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/pac/pac_sandbox_internal.h"
#include "common/embedded_files.h"

namespace relayscope {
// pac_helpers.js, embedded by relayscope_embed_files(SYMBOL PacHelperFiles).
const EmbeddedFile* PacHelperFiles(size_t* count);
}  // namespace relayscope

namespace relayscope::agent {
namespace pac_internal {
namespace {

constexpr size_t kMaxAnswerBytes = 64 << 10;
constexpr size_t kMaxScriptBytes = kMaxPacBytes;
constexpr size_t kMaxAlerts = 20;

}  // namespace

// The time budgets of one evaluation. Loading gets time_limit plus
// time_limit per MB of script: compiling is linear in the size (a
// 16,000-rule list of 1.2 MB compiles in ~0.4 s on an idle machine), and a
// busy one must not refuse a file a browser runs. The whole evaluation's
// bound is the load and every query at their own limit, and never more
// than total_time_limit.
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

namespace {

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
  const ChildChannel* channel = nullptr;
  size_t allocated = 0;
  size_t next_mark = 0;  // the heap size at which to send the next kMemoryMark
  size_t limit = 0;
  bool exhausted = false;
};
ChildState* g_child = nullptr;  // the child is single-threaded

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
  if (!g_child->channel->Write(header, 5) || !g_child->channel->Write(payload.data(), size)) {
    std::_Exit(3);
  }
}

// The heap cap: every Duktape allocation goes through here.
void* CountingAlloc(void*, duk_size_t size) {
  if (g_child->allocated + size > g_child->limit) {
    NoteExhausted();
    return nullptr;
  }
  void* p = malloc(size);
  if (p == nullptr) {
    // The system refused first (a Job object's or the address space's
    // limit): as much a memory problem as our own cap.
    NoteExhausted();
    return nullptr;
  }
  g_child->allocated += AllocationSize(p);
  NoteGrowth();
  return p;
}
void* CountingRealloc(void*, void* old, duk_size_t size) {
  const size_t before = old != nullptr ? AllocationSize(old) : 0;
  if (size > before && g_child->allocated + (size - before) > g_child->limit) {
    NoteExhausted();
    return nullptr;
  }
  void* p = realloc(old, size);
  if (p == nullptr) {
    if (size > before) NoteExhausted();
    return nullptr;
  }
  g_child->allocated = g_child->allocated - before + AllocationSize(p);
  NoteGrowth();
  return p;
}
void CountingFree(void*, void* p) {
  if (p == nullptr) return;
  g_child->allocated -= AllocationSize(p);
  free(p);
}
void Fatal(void*, const char* message) {
  Send(g_child->exhausted ? kNoMemory : kScriptError,
       absl::StrCat("the PAC engine stopped: ", message ? message : "fatal error"));
  std::_Exit(4);
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
  if (!g_child->channel->Read(reinterpret_cast<char*>(&size), 4) || size > 65536) std::_Exit(3);
  answer.resize(size);
  if (size > 0 && !g_child->channel->Read(answer.data(), size)) std::_Exit(3);
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

}  // namespace

void RunChild(const std::string& script, const std::vector<PacQuery>& queries,
              const PacOptions& options, const ChildChannel* channel,
              absl::FunctionRef<std::string()> lock_down) {
  ChildState state;
  state.channel = channel;
  state.limit = options.memory_limit;
  state.next_mark = options.memory_limit / 8;  // a PAC's own heap stays far below
  g_child = &state;

  duk_context* ctx = duk_create_heap(CountingAlloc, CountingRealloc, CountingFree, nullptr, Fatal);
  if (ctx == nullptr) {
    Send(kScriptError, "cannot create the PAC engine");
    std::_Exit(2);
  }
  if (const std::string refused = lock_down(); !refused.empty()) {
    Send(kScriptError, refused);
    std::_Exit(2);
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
    std::_Exit(2);
  }
  if (duk_peval_lstring(ctx, script.data(), script.size()) != 0) {
    if (state.exhausted) {
      Send(kNoMemory, duk_safe_to_string(ctx, -1));
      std::_Exit(0);
    }
    const std::string error = duk_safe_to_string(ctx, -1);
    int line = 0;
    if (duk_is_object(ctx, -1)) {
      duk_get_prop_string(ctx, -1, "lineNumber");
      line = duk_is_number(ctx, -1) ? duk_get_int(ctx, -1) : 0;
      duk_pop(ctx);
    }
    Send(kScriptError, DescribeLoadError(script, error, line));
    std::_Exit(0);
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
      std::_Exit(0);
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
        std::_Exit(0);
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
  std::_Exit(0);
}

// ---- the request a fresh child reads --------------------------------------

namespace {

constexpr char kRequestMagic[] = "relayscope-pac-request-1\n";

void PutNumber(uint64_t value, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}
void PutString(const std::string& value, std::string* out) {
  PutNumber(value.size(), out);
  out->append(value);
}

// Reads what PutNumber / PutString wrote, never past the end.
class RequestReader {
 public:
  explicit RequestReader(const std::string& bytes) : bytes_(bytes) {}
  bool Number(uint64_t* value) {
    if (bytes_.size() - offset_ < 8) return false;
    *value = 0;
    for (int i = 0; i < 8; ++i) {
      *value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes_[offset_ + i])) << (8 * i);
    }
    offset_ += 8;
    return true;
  }
  bool String(std::string* value) {
    uint64_t size = 0;
    if (!Number(&size) || size > bytes_.size() - offset_) return false;
    value->assign(bytes_, offset_, size);
    offset_ += size;
    return true;
  }
  bool Magic() {
    const size_t size = sizeof(kRequestMagic) - 1;
    if (bytes_.compare(0, size, kRequestMagic) != 0) return false;
    offset_ = size;
    return true;
  }
  bool AtEnd() const { return offset_ == bytes_.size(); }

 private:
  const std::string& bytes_;
  size_t offset_ = 0;
};

}  // namespace

std::string EncodeChildRequest(const std::string& script, const std::vector<PacQuery>& queries,
                               const PacOptions& options) {
  std::string out = kRequestMagic;
  PutNumber(options.memory_limit, &out);
  PutNumber(static_cast<uint64_t>(absl::ToUnixMillis(options.now)), &out);
  PutNumber(options.my_addresses.size(), &out);
  for (const std::string& address : options.my_addresses) PutString(address, &out);
  PutNumber(queries.size(), &out);
  for (const PacQuery& query : queries) {
    PutString(query.url, &out);
    PutString(query.host, &out);
  }
  PutString(script, &out);
  return out;
}

absl::Status DecodeChildRequest(const std::string& bytes, std::string* script,
                                std::vector<PacQuery>* queries, PacOptions* options) {
  RequestReader in(bytes);
  uint64_t memory = 0, now = 0, addresses = 0, count = 0;
  auto malformed = [] {
    return absl::InvalidArgumentError("the PAC sandbox child was given a malformed request");
  };
  if (!in.Magic() || !in.Number(&memory) || !in.Number(&now) || !in.Number(&addresses)) {
    return malformed();
  }
  options->memory_limit = static_cast<size_t>(memory);
  options->now = absl::FromUnixMillis(static_cast<int64_t>(now));
  options->my_addresses.clear();
  // Each entry takes at least its 8-byte length: a count larger than the
  // bytes left is a lie, refused before anything is reserved for it.
  if (addresses > bytes.size() / 8) return malformed();
  for (uint64_t i = 0; i < addresses; ++i) {
    std::string address;
    if (!in.String(&address)) return malformed();
    options->my_addresses.push_back(std::move(address));
  }
  if (!in.Number(&count) || count > bytes.size() / 16) return malformed();
  queries->clear();
  for (uint64_t i = 0; i < count; ++i) {
    PacQuery query;
    if (!in.String(&query.url) || !in.String(&query.host)) return malformed();
    queries->push_back(std::move(query));
  }
  if (!in.String(script) || !in.AtEnd()) return malformed();
  return absl::OkStatus();
}

// ---- parent side ---------------------------------------------------------

namespace {

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

// One sandbox run of the decoded `script` over `queries`. When it fails,
// `partial` holds what was answered before, and `query_stuck` says the
// failure was one query outliving its own time limit (not the load, the
// total bound or memory), so the queries after it may still be asked.
absl::StatusOr<PacEvaluation> RunSandbox(const std::string& script,
                                         const std::vector<PacQuery>& queries,
                                         const PacOptions& options, PacEvaluation* partial,
                                         bool* query_stuck) {
  *query_stuck = false;
  absl::StatusOr<std::unique_ptr<SandboxProcess>> child =
      StartSandboxProcess(script, queries, options);
  if (!child.ok()) return child.status();

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
    if (!(*child)->ReadMessage(std::min(step_deadline, total_deadline), &type, &payload,
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
        if (!(*child)->Write(reinterpret_cast<const char*>(&size), 4) ||
            !(*child)->Write(answer.data(), answer.size())) {
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
  const SandboxProcess::Ending ending = (*child)->Finish(!done);

  if (!failure.ok()) return failure;
  if (timed_out || ending.cpu_limit) {
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
                     ending.how.empty() ? "" : absl::StrCat(" (", ending.how, ")")));
  }
  if (evaluation.answers.size() != queries.size()) {
    return absl::InternalError("the PAC sandbox did not answer every query");
  }
  return evaluation;
}

}  // namespace
}  // namespace pac_internal

using pac_internal::DecodePacSource;
using pac_internal::kMaxAlerts;
using pac_internal::kMaxScriptBytes;
using pac_internal::RunSandbox;

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

}  // namespace relayscope::agent
