#include "agent/pac/pac_fetch.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace relayscope::agent {
namespace {

struct Body {
  std::string text;
  size_t limit = 0;
  bool too_large = false;
};

size_t Collect(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<Body*>(user);
  const size_t n = size * count;
  if (body->text.size() + n > body->limit) {
    body->too_large = true;
    return 0;  // makes curl abort the transfer
  }
  body->text.append(data, n);
  return n;
}

}  // namespace

std::string LocalPathOfFileUrl(absl::string_view url, bool windows) {
  absl::string_view rest = url.substr(7);  // file://
  // %XX escapes ("Program%20Files"), as browsers decode them.
  auto hex = [](char c) {
    return absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10;
  };
  std::string decoded;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '%' && i + 2 < rest.size() && absl::ascii_isxdigit(rest[i + 1]) &&
        absl::ascii_isxdigit(rest[i + 2])) {
      decoded.push_back(static_cast<char>(hex(rest[i + 1]) * 16 + hex(rest[i + 2])));
      i += 2;
    } else {
      decoded.push_back(rest[i]);
    }
  }
  absl::string_view path = decoded;
  if (absl::StartsWithIgnoreCase(path, "localhost/")) path.remove_prefix(9);
  if (!windows) return std::string(path);
  // Windows: file:///C:/x and file://C:/x are C:/x; file://server/share/x
  // and file:////server/share/x are the UNC path \\server\share\x.
  auto drive = [](absl::string_view p) {
    return p.size() >= 2 && absl::ascii_isalpha(p[0]) && (p[1] == ':' || p[1] == '|');
  };
  std::string out;
  if (absl::StartsWith(path, "/") && drive(path.substr(1))) {
    out = std::string(path.substr(1));
  } else if (drive(path)) {
    out = std::string(path);
  } else {
    while (absl::ConsumePrefix(&path, "/")) {
    }
    out = absl::StrCat("\\\\", path);
  }
  if (out.size() >= 2 && out[1] == '|') out[1] = ':';
  for (char& c : out) {
    if (c == '/') c = '\\';
  }
  return out;
}

namespace {

absl::StatusOr<std::string> ReadLocal(const std::string& url, size_t limit) {
#ifdef _WIN32
  const std::string path = LocalPathOfFileUrl(url, /*windows=*/true);
#else
  const std::string path = LocalPathOfFileUrl(url, /*windows=*/false);
#endif
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat("PAC file ", url, " does not exist"));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("PAC file ", url, " is not a regular file"));
  }
  if (static_cast<size_t>(info.st_size) > limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("PAC file ", url, " is larger than ", limit >> 20, " MB"));
  }
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<size_t>(info.st_size), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(text.size()))) {
    return absl::UnavailableError(absl::StrCat("cannot read PAC file ", url));
  }
  return text;
}

}  // namespace

absl::StatusOr<std::string> FetchPac(const std::string& url, const PacFetchOptions& options) {
  const std::string lower = absl::AsciiStrToLower(url);
  if (absl::StartsWith(lower, "file://")) return ReadLocal(url, options.max_bytes);
  if (!absl::StartsWith(lower, "http://") && !absl::StartsWith(lower, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("PAC URL ", url, ": only http, https and file URLs are fetched"));
  }
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return absl::InternalError("curl_easy_init failed");
  Body body;
  body.limit = options.max_bytes;
  char error[CURL_ERROR_SIZE] = {};
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, options.max_redirects);
  curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_bytes));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options.timeout)));
  curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  const CURLcode rc = curl_easy_perform(h);
  if (body.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("PAC file ", url, " is larger than ", options.max_bytes >> 20, " MB"));
  }
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat("cannot fetch PAC file ", url, ": ",
                                               error[0] ? error : curl_easy_strerror(rc)));
  }
  return body.text;
}

}  // namespace relayscope::agent
