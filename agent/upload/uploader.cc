#include "agent/upload/uploader.h"

#include <curl/curl.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "agent/proxy/curl_proxy.h"
#include "agent/upload/grpc_wire.h"
#include "common/host_port.h"

namespace relayscope::agent {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The spool: one file per batch, named so that lexical order is arrival
// order ("<micros>-<n>.batch"), written to a temporary name and renamed.
class Spool {
 public:
  Spool(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}
  bool enabled() const { return !dir_.empty(); }

  std::vector<std::string> List() const {
    std::vector<std::string> files;
    std::error_code ec;
    if (!enabled() || !fs::exists(dir_, ec)) return files;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
      if (entry.path().extension() == ".batch") files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    return files;
  }

  // Adds a batch; drops the oldest to stay within the bound. Returns how
  // many were dropped.
  uint64_t Add(const v1::UploadRequest& batch) {
    if (!enabled()) return 0;
    std::error_code ec;
    fs::create_directories(dir_, ec);
    // The system clock, whatever the upload's: names must sort in arrival
    // order across runs of the agent.
    const std::string name =
        absl::StrFormat("%s/%020d-%06d.batch", dir_, absl::ToUnixMicros(absl::Now()), counter_++);
    {
      std::ofstream out(name + ".tmp", std::ios::binary);
      batch.SerializeToOstream(&out);
    }
    fs::rename(name + ".tmp", name, ec);
    uint64_t dropped = 0;
    std::vector<std::string> files = List();
    uint64_t total = 0;
    for (const auto& f : files) total += fs::file_size(f, ec);
    for (size_t i = 0; total > max_bytes_ && i + 1 < files.size(); ++i) {
      total -= fs::file_size(files[i], ec);
      fs::remove(files[i], ec);
      ++dropped;
    }
    return dropped;
  }

 private:
  std::string dir_;
  uint64_t max_bytes_;
  int counter_ = 0;
};

// One batch to deliver, from the spool (file set) or from this session.
struct Pending {
  v1::UploadRequest request;
  std::string spool_file;
};

}  // namespace

std::vector<v1::UploadRequest> MakeBatches(const v1::SessionReport& report, int per_batch) {
  std::vector<v1::UploadRequest> batches;
  v1::SessionReport envelope = report;
  envelope.clear_attempts();
  const int n = report.attempts_size();
  per_batch = std::max(1, per_batch);
  for (int start = 0; start == 0 || start < n; start += per_batch) {
    v1::UploadRequest batch;
    *batch.mutable_session() = envelope;
    if (start > 0) {
      // Later batches carry only the identity, not the metadata again.
      batch.mutable_session()->clear_proxies();
      batch.mutable_session()->clear_verdict();
    }
    for (int i = start; i < std::min(n, start + per_batch); ++i) {
      *batch.mutable_session()->add_attempts() = report.attempts(i);
    }
    batches.push_back(std::move(batch));
  }
  return batches;
}

namespace {

constexpr char kUploadPath[] = "/relayscope.v1.Ingest/Upload";

void EnsureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string RouteName(const ProxyUrl& proxy) {
  return proxy.direct() ? "DIRECT" : absl::StrCat("via ", proxy.Redacted());
}

// "grpc-timeout: 1234m": the server ends the call when the agent would.
std::string GrpcTimeout(absl::Duration left) {
  return absl::StrCat("grpc-timeout: ", std::max<int64_t>(1, absl::ToInt64Milliseconds(left)), "m");
}

// One Upload call over one route: the batches from `*next` on go out as
// one request body, and each ack that comes back takes its batch off the
// list (and out of the spool) before the next is looked at.
class UploadCall {
 public:
  UploadCall(std::vector<Pending>* pending, size_t* next, UploadResult* result)
      : pending_(*pending), next_(*next), result_(*result), send_(*next) {}

  struct Outcome {
    // The collector answered in gRPC over this route: its answer stands,
    // no other route is tried for it.
    bool answered = false;
    // The proxy's answer to CONNECT (0: none, or no HTTP proxy).
    long connect_code = 0;
    absl::Status status;
  };

  Outcome Run(const std::string& url, bool insecure, const std::string& ca_file,
              const std::string& token, const ProxyUrl& proxy, const std::string& proxy_ca_file,
              absl::Duration left, absl::Duration connect_budget) {
    EnsureCurlInitialized();
    Outcome outcome;
    CURL* handle = curl_easy_init();
    if (handle == nullptr) {
      outcome.status = absl::ResourceExhaustedError("libcurl could not allocate a handle");
      return outcome;
    }
    char error_buffer[CURL_ERROR_SIZE] = {0};
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "content-type: application/grpc");
    headers = curl_slist_append(headers, "te: trailers");
    headers = curl_slist_append(headers, GrpcTimeout(left).c_str());
    headers = curl_slist_append(headers, "Expect:");
    headers = curl_slist_append(headers, "Accept:");
    const std::string authorization = absl::StrCat("authorization: Bearer ", token);
    if (!token.empty()) headers = curl_slist_append(headers, authorization.c_str());

    curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(handle, CURLOPT_HTTP_VERSION,
                     insecure ? static_cast<long>(CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE)
                              : static_cast<long>(CURL_HTTP_VERSION_2TLS));
    curl_easy_setopt(handle, CURLOPT_POST, 1L);
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(handle, CURLOPT_USERAGENT, "relayscope-agent grpc-wire/libcurl");
    curl_easy_setopt(handle, CURLOPT_READFUNCTION, &UploadCall::Read);
    curl_easy_setopt(handle, CURLOPT_READDATA, this);
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &UploadCall::Write);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &UploadCall::Header);
    curl_easy_setopt(handle, CURLOPT_HEADERDATA, this);
    // The proxy's own CONNECT reply is not the collector's answer.
    curl_easy_setopt(handle, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(left))));
    curl_easy_setopt(
        handle, CURLOPT_CONNECTTIMEOUT_MS,
        static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(connect_budget))));
    TrustCurlRoots(handle, CURLOPT_CAINFO, CURLOPT_SSL_OPTIONS, ca_file);
    // Exactly the route named: libcurl never picks a proxy from the
    // environment on its own.
    curl_easy_setopt(handle, CURLOPT_NOPROXY, "");
    const std::string proxy_address = proxy.direct() ? "" : HostPort(proxy.host, proxy.port);
    if (proxy.direct()) {
      curl_easy_setopt(handle, CURLOPT_PROXY, "");
    } else {
      // A tunnel, so h2 and h2c go through an HTTP proxy untouched.
      UseCurlProxy(handle, proxy, proxy_address);
      TrustCurlRoots(handle, CURLOPT_PROXY_CAINFO, CURLOPT_PROXY_SSL_OPTIONS, proxy_ca_file);
    }

    const CURLcode rc = curl_easy_perform(handle);
    curl_easy_getinfo(handle, CURLINFO_HTTP_CONNECTCODE, &outcome.connect_code);
    curl_easy_cleanup(handle);
    curl_slist_free_all(headers);

    const std::string curl_error =
        error_buffer[0] != '\0' ? std::string(error_buffer) : curl_easy_strerror(rc);
    if (!response_.answered() || !response_.is_grpc()) {
      // Nothing from the collector: this route does not reach it.
      if (response_.answered()) {
        outcome.status = response_.Finish();
      } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        outcome.status = absl::DeadlineExceededError(curl_error);
      } else if (outcome.connect_code >= 300) {
        outcome.status = absl::UnavailableError(absl::StrCat(
            "the proxy answered CONNECT with ", outcome.connect_code,
            outcome.connect_code == 407 ? (proxy.username.empty() ? " (it wants credentials)"
                                                                  : " (it refused the credentials)")
                                        : ""));
      } else {
        outcome.status = absl::UnavailableError(curl_error);
      }
      return outcome;
    }
    outcome.answered = true;
    if (!stream_error_.ok()) {
      outcome.status = stream_error_;
    } else if (rc != CURLE_OK && !response_.has_grpc_status()) {
      outcome.status = rc == CURLE_OPERATION_TIMEDOUT ? absl::DeadlineExceededError(curl_error)
                                                      : absl::UnavailableError(curl_error);
    } else {
      outcome.status = response_.Finish();
      if (outcome.status.ok() && next_ < pending_.size()) {
        outcome.status = absl::InternalError(
            absl::StrCat("the stream ended with ", pending_.size() - next_, " batches unacked"));
      }
    }
    return outcome;
  }

 private:
  static size_t Read(char* buffer, size_t size, size_t count, void* self_ptr) {
    auto& self = *static_cast<UploadCall*>(self_ptr);
    if (self.out_at_ == self.out_.size()) {
      if (self.send_ >= self.pending_.size()) return 0;  // all sent: END_STREAM
      v1::UploadRequest& request = self.pending_[self.send_].request;
      // Unique within the stream; the ack must echo it.
      request.set_batch_id(self.send_ + 1);
      self.out_ = FrameMessage(request.SerializeAsString());
      self.out_at_ = 0;
      ++self.send_;
    }
    const size_t n = std::min(size * count, self.out_.size() - self.out_at_);
    std::copy_n(self.out_.data() + self.out_at_, n, buffer);
    self.out_at_ += n;
    return n;
  }

  static size_t Header(char* data, size_t size, size_t count, void* self_ptr) {
    auto& self = *static_cast<UploadCall*>(self_ptr);
    self.response_.AddHeaderLine(absl::string_view(data, size * count));
    return size * count;
  }

  // Returning less than given aborts the transfer: what is not acked by
  // then stays pending.
  static size_t Write(char* data, size_t size, size_t count, void* self_ptr) {
    auto& self = *static_cast<UploadCall*>(self_ptr);
    const size_t length = size * count;
    if (absl::Status added = self.response_.AddData(absl::string_view(data, length)); !added.ok()) {
      self.stream_error_ = added;
      return 0;
    }
    while (std::optional<std::string> message = self.response_.NextMessage()) {
      if (absl::Status acked = self.Ack(*message); !acked.ok()) {
        self.stream_error_ = acked;
        return 0;
      }
    }
    return length;
  }

  absl::Status Ack(const std::string& message) {
    v1::UploadResponse ack;
    if (!ack.ParseFromString(message)) {
      return absl::InternalError(absl::StrCat("an ack that does not parse as UploadResponse (",
                                              message.size(), " bytes)"));
    }
    if (next_ >= send_ || ack.batch_id() != next_ + 1) {
      return absl::InternalError(absl::StrCat("an ack for batch ", ack.batch_id(), " where batch ",
                                              next_ + 1, " was awaited"));
    }
    result_.accepted += ack.accepted();
    result_.duplicates += ack.duplicates();
    result_.rejected += static_cast<uint64_t>(ack.rejected_size());
    ++result_.delivered_batches;
    if (!pending_[next_].spool_file.empty()) {
      std::error_code ec;
      fs::remove(pending_[next_].spool_file, ec);
      ++result_.delivered_from_spool;
    }
    ++next_;
    return absl::OkStatus();
  }

  std::vector<Pending>& pending_;
  size_t& next_;
  UploadResult& result_;
  size_t send_;  // the next batch to put on the wire
  std::string out_;
  size_t out_at_ = 0;
  GrpcResponse response_;
  absl::Status stream_error_;
};

// Refusals that a retry cannot fix.
bool Final(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnauthenticated ||
         status.code() == absl::StatusCode::kInvalidArgument;
}

}  // namespace

UploadResult Upload(const v1::SessionReport& report, const UploadOptions& options) {
  UploadResult result;
  Clock& clock = options.clock != nullptr ? *options.clock : Clock::Real();
  const absl::Time deadline = clock.Now() + options.deadline;
  Spool spool(options.spool_dir, options.spool_max_bytes);

  std::vector<Pending> pending;
  for (const std::string& file : spool.List()) {
    Pending p;
    if (p.request.ParseFromString(ReadFile(file))) {
      p.spool_file = file;
      pending.push_back(std::move(p));
    } else {
      std::error_code ec;
      fs::remove(file, ec);  // unreadable: it can never be delivered
      ++result.dropped;
    }
  }
  for (v1::UploadRequest& batch : MakeBatches(report, options.attempts_per_batch)) {
    pending.push_back({std::move(batch), ""});
  }

  std::vector<UploadRoute> routes = options.routes;
  if (routes.empty()) routes.push_back(UploadRoute{});
  const std::string url =
      absl::StrCat(options.insecure ? "http://" : "https://", options.target, kUploadPath);
  // Proxies already asked for credentials, by kind, host and port: a
  // person is asked once, whatever the number of tries.
  std::set<std::tuple<int, std::string, int>> asked;

  std::mt19937_64 rng(std::random_device{}());
  size_t next = 0;
  size_t preferred = 0;  // the route the collector last answered over
  absl::Duration backoff = absl::Milliseconds(200);
  for (int attempt = 0; next < pending.size() && attempt < options.max_tries; ++attempt) {
    if (attempt > 0) {
      // Exponential backoff with full jitter, within the deadline.
      std::uniform_int_distribution<int64_t> jitter(0, absl::ToInt64Milliseconds(backoff));
      const absl::Duration wait = absl::Milliseconds(jitter(rng));
      if (clock.Now() + wait >= deadline) break;
      clock.SleepUntil(clock.Now() + wait);
      backoff *= 2;
    }
    // The preferred route first, then the others in their order.
    std::vector<size_t> order = {preferred};
    for (size_t i = 0; i < routes.size(); ++i) {
      if (i != preferred) order.push_back(i);
    }
    std::vector<std::string> failures;
    bool final_refusal = false;
    for (size_t k = 0; k < order.size() && next < pending.size(); ++k) {
      UploadRoute& route = routes[order[k]];
      const absl::Duration left = deadline - clock.Now();
      if (left <= absl::ZeroDuration()) {
        failures.push_back(
            absl::StrCat(RouteName(route.proxy), ": not tried, the deadline passed"));
        break;
      }
      // Each route left in this pass gets its share of the time to connect,
      // so a proxy that drops packets cannot starve the routes after it.
      const absl::Duration connect_budget = left / static_cast<int64_t>(order.size() - k);
      auto run = [&] {
        UploadCall call(&pending, &next, &result);
        return call.Run(url, options.insecure, options.ca_file, options.token, route.proxy,
                        options.proxy_ca_file, deadline - clock.Now(), connect_budget);
      };
      UploadCall::Outcome outcome = run();
      const auto key = std::make_tuple(static_cast<int>(route.proxy.kind), route.proxy.host,
                                       static_cast<int>(route.proxy.port));
      if (outcome.connect_code == 407 && route.proxy.username.empty() && options.ask_credentials &&
          asked.insert(key).second) {
        const auto answer =
            options.ask_credentials(ToProxyProto(route.proxy, v1::PROXY_SOURCE_UNSPECIFIED, ""));
        if (answer && !answer->first.empty()) {
          // The same route again, now with credentials.
          route.proxy.username = answer->first;
          route.proxy.password = answer->second;
          outcome = run();
        }
      }
      if (outcome.answered) {
        preferred = order[k];
        result.route = route.proxy.direct() ? "DIRECT" : route.proxy.Redacted();
      }
      if (outcome.status.ok()) break;
      failures.push_back(absl::StrCat(RouteName(route.proxy), ": ", outcome.status.message(), " (",
                                      static_cast<int>(outcome.status.code()), ")"));
      if (outcome.answered) {
        // The collector's own answer: another route would reach the same
        // collector and hear the same.
        final_refusal = Final(outcome.status);
        break;
      }
    }
    if (next < pending.size()) {
      result.error = absl::StrCat("collector ", options.target,
                                  " unavailable: ", absl::StrJoin(failures, "; "));
    }
    if (final_refusal) break;
  }
  // What was not acked waits in the spool (spooled files stay where they are).
  for (size_t i = next; i < pending.size(); ++i) {
    if (!pending[i].spool_file.empty()) {
      ++result.spooled;
      continue;
    }
    result.dropped += spool.Add(pending[i].request);
    if (spool.enabled()) ++result.spooled;
  }
  if (next == pending.size()) result.error.clear();
  return result;
}

}  // namespace relayscope::agent
