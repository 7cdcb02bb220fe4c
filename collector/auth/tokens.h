// Agent authentication: bearer tokens checked against a file of SHA-256
// hashes, so the collector never stores a usable token.
//
// File format, one per line: "<name> <sha256-hex-of-token> [not-after=<RFC 3339 time>]";
// '#' starts a comment. `name` identifies the holder in logs (never in
// metric labels); a token past its not-after time is refused. Generate a
// line with: printf %s "$TOKEN" | sha256sum
//
// Revocation and rotation need no restart: a loaded file is re-read when it
// changes (ReloadIfChanged, which the collector calls every few seconds);
// a file that no longer parses is reported and the tokens in use are kept.
#ifndef COLLECTOR_AUTH_TOKENS_H_
#define COLLECTOR_AUTH_TOKENS_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace relayscope::collector {

class TokenAuthenticator {
 public:
  // Parses a token file's text. INVALID_ARGUMENT naming the line.
  static absl::StatusOr<TokenAuthenticator> Parse(absl::string_view text, absl::string_view source);
  // Reads and parses the file. NOT_FOUND if it cannot be read.
  static absl::StatusOr<TokenAuthenticator> Load(const std::string& path);
  // Accepts every caller (for the local demo and tests only).
  static TokenAuthenticator AllowAll();
  // Refuses every caller (a service nobody was given tokens for).
  static TokenAuthenticator DenyAll() { return TokenAuthenticator(); }

  // Checks an "authorization" metadata value ("Bearer <token>") at `now`.
  // Returns the holder's name, or UNAUTHENTICATED: "a valid bearer token is
  // required" without saying which part was wrong, or, for a listed token
  // past its not-after time, that it has expired (only a holder of the
  // token learns that, and it tells them what to fix).
  absl::StatusOr<std::string> Authenticate(absl::string_view authorization,
                                           absl::Time now = absl::Now()) const;

  // For an authenticator made by Load: re-reads the file if it changed
  // (inode, size or modification time) since it was last read. Returns
  // true when the new tokens are in use, false when nothing changed, and
  // the error when the changed file cannot be read or parsed: the tokens
  // in use stay, and the same broken version is not reported twice.
  // Copies of an authenticator share its tokens, so every service holding
  // one sees the reload. Thread-safe, like Authenticate.
  absl::StatusOr<bool> ReloadIfChanged();

  size_t size() const;
  const std::string& path() const { return state_->path; }

 private:
  struct Entry {
    std::string name;
    absl::Time not_after = absl::InfiniteFuture();
  };
  using Table = std::map<std::string, Entry>;  // sha256 hex -> holder
  struct Stamp {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = -1;
    int64_t mtime_ns = -1;
    bool operator==(const Stamp&) const = default;
  };
  struct State {
    bool allow_all = false;
    std::string path;  // empty unless made by Load
    mutable absl::Mutex mu;
    std::shared_ptr<const Table> table ABSL_GUARDED_BY(mu) = std::make_shared<Table>();
    Stamp loaded ABSL_GUARDED_BY(mu);
    std::optional<Stamp> failed ABSL_GUARDED_BY(mu);  // the version that did not parse
  };

  TokenAuthenticator() : state_(std::make_shared<State>()) {}
  static absl::StatusOr<Table> ParseTable(absl::string_view text, absl::string_view source);
  static Stamp StampOf(const struct stat& info);
  static absl::StatusOr<std::string> ReadStamped(const std::string& path, Stamp* stamp);
  std::shared_ptr<const Table> table() const;

  std::shared_ptr<State> state_;
};

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

}  // namespace relayscope::collector

#endif  // COLLECTOR_AUTH_TOKENS_H_
