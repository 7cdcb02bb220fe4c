#include "agent/upload/uploader.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "relayscope/v1/ingest.grpc.pb.h"

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

  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.insecure) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions tls;
    if (!options.ca_file.empty()) tls.pem_root_certs = ReadFile(options.ca_file);
    credentials = grpc::SslCredentials(tls);
  }
  auto stub = v1::Ingest::NewStub(grpc::CreateChannel(options.target, credentials));

  std::mt19937_64 rng(std::random_device{}());
  size_t next = 0;
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
    grpc::ClientContext context;
    // gRPC keeps its own (system) time: hand it what is left on ours.
    context.set_deadline(absl::ToChronoTime(absl::Now() + (deadline - clock.Now())));
    context.set_wait_for_ready(false);
    if (!options.token.empty()) context.AddMetadata("authorization", "Bearer " + options.token);
    auto stream = stub->Upload(&context);
    while (next < pending.size()) {
      v1::UploadRequest& request = pending[next].request;
      request.set_batch_id(next + 1);
      v1::UploadResponse ack;
      if (!stream->Write(request) || !stream->Read(&ack) || ack.batch_id() != next + 1) break;
      result.accepted += ack.accepted();
      result.duplicates += ack.duplicates();
      result.rejected += static_cast<uint64_t>(ack.rejected_size());
      ++result.delivered_batches;
      if (!pending[next].spool_file.empty()) {
        std::error_code ec;
        fs::remove(pending[next].spool_file, ec);
        ++result.delivered_from_spool;
      }
      ++next;
    }
    stream->WritesDone();
    const grpc::Status status = stream->Finish();
    if (next < pending.size()) {
      result.error = absl::StrCat("collector ", options.target, " unavailable: ",
                                  status.ok() ? "stream ended early" : status.error_message(), " (",
                                  status.error_code(), ")");
      // Refusals that a retry cannot fix.
      if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
          status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
        break;
      }
    }
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
