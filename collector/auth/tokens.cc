#include "collector/auth/tokens.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace relayscope::collector {
namespace {

constexpr absl::string_view kNotAfter = "not-after=";
constexpr absl::string_view kRefused = "a valid bearer token is required";
// A token file is a few lines per agent group; anything this large is a
// mistake (or an attack on the collector's memory), not a token file.
constexpr off_t kMaxFileBytes = 16 << 20;

}  // namespace

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) absl::StrAppendFormat(&hex, "%02x", digest[i]);
  return hex;
}

absl::StatusOr<TokenAuthenticator::Table> TokenAuthenticator::ParseTable(absl::string_view text,
                                                                         absl::string_view source) {
  Table table;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() < 2 || fields.size() > 3 || fields[1].size() != 64 ||
        !std::all_of(fields[1].begin(), fields[1].end(),
                     [](char c) { return absl::ascii_isxdigit(c); })) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line_number,
                       ": expected \"<name> <sha256-hex> [not-after=<RFC 3339 time>]\" (64 hex "
                       "digits)"));
    }
    Entry entry{std::string(fields[0])};
    if (fields.size() == 3) {
      std::string error;
      if (!absl::StartsWith(fields[2], kNotAfter) ||
          !absl::ParseTime(absl::RFC3339_full, fields[2].substr(kNotAfter.size()), &entry.not_after,
                           &error)) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ":", line_number, ": the third field must be not-after=<RFC 3339 time> ",
            "(2027-01-31T00:00:00Z), not \"", absl::CHexEscape(fields[2].substr(0, 64)), "\""));
      }
    }
    table[absl::AsciiStrToLower(fields[1])] = std::move(entry);
  }
  if (table.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": no tokens"));
  return table;
}

absl::StatusOr<TokenAuthenticator> TokenAuthenticator::Parse(absl::string_view text,
                                                             absl::string_view source) {
  auto table = ParseTable(text, source);
  if (!table.ok()) return table.status();
  TokenAuthenticator auth;
  absl::MutexLock lock(&auth.state_->mu);
  auth.state_->table = std::make_shared<const Table>(*std::move(table));
  return auth;
}

TokenAuthenticator::Stamp TokenAuthenticator::StampOf(const struct stat& info) {
  return Stamp{info.st_dev, info.st_ino, info.st_size,
               static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec};
}

// Reads the file through one descriptor, so the stamp belongs to the bytes
// read (a rename between stat and read cannot mix two versions).
absl::StatusOr<std::string> TokenAuthenticator::ReadStamped(const std::string& path, Stamp* stamp) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot read token file ", path, ": ", std::strerror(errno)));
  }
  struct stat info {};
  std::string text;
  absl::Status status;
  if (fstat(fd, &info) != 0) {
    status = absl::NotFoundError(absl::StrCat("cannot stat token file ", path));
  } else if (info.st_size > kMaxFileBytes) {
    status = absl::InvalidArgumentError(
        absl::StrCat(path, ": ", info.st_size, " bytes is not a token file (limit 16 MiB)"));
  } else {
    char buffer[65536];
    for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || text.size() + static_cast<size_t>(n) > static_cast<size_t>(kMaxFileBytes)) {
        status = absl::NotFoundError(absl::StrCat("cannot read token file ", path));
        break;
      }
      text.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  if (!status.ok()) return status;
  *stamp = StampOf(info);
  return text;
}

absl::StatusOr<TokenAuthenticator> TokenAuthenticator::Load(const std::string& path) {
  Stamp stamp;
  auto text = ReadStamped(path, &stamp);
  if (!text.ok()) return text.status();
  auto auth = Parse(*text, path);
  if (!auth.ok()) return auth.status();
  auth->state_->path = path;
  absl::MutexLock lock(&auth->state_->mu);
  auth->state_->loaded = stamp;
  return auth;
}

absl::StatusOr<bool> TokenAuthenticator::ReloadIfChanged() {
  State& state = *state_;
  if (state.path.empty()) return false;
  struct stat info {};
  Stamp now;
  if (stat(state.path.c_str(), &info) == 0) {
    now = StampOf(info);
  }
  {
    absl::MutexLock lock(&state.mu);
    if (now == state.loaded || (state.failed.has_value() && now == *state.failed)) return false;
  }
  Stamp read_stamp;
  absl::StatusOr<std::string> text = ReadStamped(state.path, &read_stamp);
  absl::StatusOr<Table> table =
      text.ok() ? ParseTable(*text, state.path) : absl::StatusOr<Table>(text.status());
  absl::MutexLock lock(&state.mu);
  if (!table.ok()) {
    state.failed = now;
    return table.status();
  }
  state.table = std::make_shared<const Table>(*std::move(table));
  state.loaded = read_stamp;
  state.failed.reset();
  return true;
}

TokenAuthenticator TokenAuthenticator::AllowAll() {
  TokenAuthenticator auth;
  auth.state_->allow_all = true;
  return auth;
}

std::shared_ptr<const TokenAuthenticator::Table> TokenAuthenticator::table() const {
  absl::MutexLock lock(&state_->mu);
  return state_->table;
}

size_t TokenAuthenticator::size() const { return table()->size(); }

absl::StatusOr<std::string> TokenAuthenticator::Authenticate(absl::string_view authorization,
                                                             absl::Time now) const {
  if (state_->allow_all) return std::string("anonymous");
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWith(authorization, kBearer) || authorization.size() == kBearer.size()) {
    return absl::UnauthenticatedError(kRefused);
  }
  const std::string hash = Sha256Hex(authorization.substr(kBearer.size()));
  const std::shared_ptr<const Table> table = this->table();
  // Compare against every entry in constant time per entry.
  const Entry* holder = nullptr;
  for (const auto& [known, entry] : *table) {
    if (CRYPTO_memcmp(known.data(), hash.data(), hash.size()) == 0) holder = &entry;
  }
  if (holder == nullptr) return absl::UnauthenticatedError(kRefused);
  if (now > holder->not_after) {
    return absl::UnauthenticatedError(
        absl::StrCat("the bearer token expired at ",
                     absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", holder->not_after, absl::UTCTimeZone()),
                     "; ask the collector's operators for a new one"));
  }
  return holder->name;
}

}  // namespace relayscope::collector
