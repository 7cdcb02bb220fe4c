#include "agent/pac/pac_fetch.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

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

absl::StatusOr<std::string> ReadLocal(const std::string& url, size_t limit) {
  std::string path = url.substr(7);  // file://
  if (absl::StartsWith(path, "localhost/")) path = path.substr(9);
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
