// Agent authentication: bearer tokens checked against a file of SHA-256
// hashes, so the collector never stores a usable token.
//
// File format, one per line: "<name> <sha256-hex-of-token>"; '#' starts a
// comment. `name` identifies the holder in logs (never in metric labels).
// Generate a line with: printf %s "$TOKEN" | sha256sum
#ifndef COLLECTOR_INGEST_TOKENS_H_
#define COLLECTOR_INGEST_TOKENS_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace relayscope::collector {

class TokenAuthenticator {
 public:
  // Parses a token file's text. INVALID_ARGUMENT naming the line.
  static absl::StatusOr<TokenAuthenticator> Parse(absl::string_view text,
                                                  absl::string_view source);
  // Reads and parses the file. NOT_FOUND if it cannot be read.
  static absl::StatusOr<TokenAuthenticator> Load(const std::string& path);
  // Accepts every caller (for the local demo and tests only).
  static TokenAuthenticator AllowAll();
  // Refuses every caller (a service nobody was given tokens for).
  static TokenAuthenticator DenyAll() { return TokenAuthenticator(); }

  // Checks an "authorization" metadata value ("Bearer <token>"). Returns the
  // holder's name, or UNAUTHENTICATED without saying which part was wrong.
  absl::StatusOr<std::string> Authenticate(absl::string_view authorization) const;

  size_t size() const { return hashes_.size(); }

 private:
  bool allow_all_ = false;
  std::map<std::string, std::string> hashes_;  // sha256 hex -> name
};

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

}  // namespace relayscope::collector

#endif  // COLLECTOR_INGEST_TOKENS_H_
