#include "collector/ingest/tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace relayscope::collector {

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) absl::StrAppendFormat(&hex, "%02x", digest[i]);
  return hex;
}

absl::StatusOr<TokenAuthenticator> TokenAuthenticator::Parse(absl::string_view text,
                                                             absl::string_view source) {
  TokenAuthenticator auth;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2 || fields[1].size() != 64 ||
        !std::all_of(fields[1].begin(), fields[1].end(),
                     [](char c) { return absl::ascii_isxdigit(c); })) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":", line_number, ": expected \"<name> <sha256-hex>\" (64 hex digits)"));
    }
    auth.hashes_[absl::AsciiStrToLower(fields[1])] = std::string(fields[0]);
  }
  if (auth.hashes_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": no tokens"));
  }
  return auth;
}

absl::StatusOr<TokenAuthenticator> TokenAuthenticator::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read token file ", path));
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

TokenAuthenticator TokenAuthenticator::AllowAll() {
  TokenAuthenticator auth;
  auth.allow_all_ = true;
  return auth;
}

absl::StatusOr<std::string> TokenAuthenticator::Authenticate(
    absl::string_view authorization) const {
  if (allow_all_) return std::string("anonymous");
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWith(authorization, kBearer) || authorization.size() == kBearer.size()) {
    return absl::UnauthenticatedError("a valid bearer token is required");
  }
  const std::string hash = Sha256Hex(authorization.substr(kBearer.size()));
  // Compare against every entry in constant time per entry.
  const std::string* holder = nullptr;
  for (const auto& [known, name] : hashes_) {
    if (CRYPTO_memcmp(known.data(), hash.data(), hash.size()) == 0) holder = &name;
  }
  if (holder == nullptr) return absl::UnauthenticatedError("a valid bearer token is required");
  return *holder;
}

}  // namespace relayscope::collector
