#include "tests/e2e/stack.h"

#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files.h"

namespace relayscope::e2e {

absl::StatusOr<std::string> TokenHash(const std::string& token) {
  auto hash = rig::RunCommand(
      {"/bin/sh", "-c", "printf %s \"$1\" | sha256sum | cut -d' ' -f1", "sh", token});
  if (!hash.ok()) return hash.status();
  if (hash->exit_code != 0) return absl::InternalError("sha256sum: " + hash->output);
  return std::string(absl::StripAsciiWhitespace(hash->output));
}

absl::Status WriteTokenFile(const std::string& path,
                            const std::vector<std::pair<std::string, std::string>>& tokens,
                            const std::string& extra_lines) {
  std::string content;
  for (const auto& [name, token] : tokens) {
    auto hash = TokenHash(token);
    if (!hash.ok()) return hash.status();
    absl::StrAppend(&content, name, " ", *hash, "\n");
  }
  content += extra_lines;
  return WriteFileAtomically(path, content);
}

absl::Status Collector::Start() {
  Stop();
  const std::string ready = options_.dir + "/collector.ready";
  std::filesystem::remove(ready);
  rig::Process::Options process;
  process.argv = {options_.binary,
                  "--store=sqlite://" + db(),
                  "--catalogue=" + options_.catalogue,
                  "--listen=" + options_.listen,
                  "--metrics=" + options_.metrics,
                  "--ready-file=" + ready};
  process.argv.push_back(options_.tokens.empty() ? "--allow-unauthenticated"
                                                 : "--tokens=" + options_.tokens);
  process.argv.insert(process.argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  process.log_path = log();
  auto started = rig::Process::Start(process);
  if (!started.ok()) return started.status();
  process_ = *std::move(started);
  return rig::WaitForFile(ready, absl::Seconds(20), process_.get());
}

void Collector::Kill() {
  if (process_ == nullptr) return;
  kill(process_->pid(), SIGKILL);
  process_->Stop();  // reaps it (and anything left in its group)
  process_.reset();
}

void Collector::Stop() {
  if (process_ != nullptr) process_->Stop();
  process_.reset();
}

std::string Collector::Scrape() const {
  auto curl = rig::RunCommand(
      {"/usr/bin/curl", "-s", "--noproxy", "*", "http://" + options_.metrics + "/metrics"});
  return curl.ok() && curl->exit_code == 0 ? curl->output : "";
}

absl::StatusOr<int64_t> Collector::QueryInt(const std::string& sql) const {
  auto result = rig::RunCommand({"/usr/bin/sqlite3", "-readonly", db(), sql}, absl::Seconds(30));
  if (!result.ok()) return result.status();
  int64_t value = 0;
  if (result->exit_code != 0 ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(result->output), &value)) {
    return absl::InternalError(absl::StrCat("sqlite3 \"", sql, "\": ", result->output));
  }
  return value;
}

namespace {

bool IsSample(absl::string_view line, const std::string& metric) {
  return absl::StartsWith(line, metric + "{") || absl::StartsWith(line, metric + " ");
}

}  // namespace

double SumMetric(const std::string& exposition, const std::string& metric) {
  double total = 0;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (IsSample(line, metric)) total += std::stod(std::string(line.substr(line.rfind(' ') + 1)));
  }
  return total;
}

int CountSeries(const std::string& exposition, const std::string& metric) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) n += IsSample(line, metric);
  return n;
}

v1::UploadRequest MakeBatch(const std::string& agent_id, const std::string& session_id,
                            uint64_t batch_id, uint64_t first_sequence, int n,
                            const std::string& relay) {
  v1::UploadRequest r;
  r.set_batch_id(batch_id);
  r.mutable_session()->mutable_agent()->set_agent_id(agent_id);
  r.mutable_session()->set_session_id(session_id);
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  for (int i = 0; i < n; ++i) {
    v1::Attempt* a = r.mutable_session()->add_attempts();
    a->set_session_id(session_id);
    a->set_sequence(first_sequence + static_cast<uint64_t>(i));
    a->mutable_start_time()->set_seconds(now - 1);
    a->set_region("emea");
    a->set_relay(relay);
    a->set_port(8443);
    a->set_route_kind(v1::ROUTE_KIND_DIRECT);
    a->set_outcome(v1::OUTCOME_CONNECTION_REFUSED);
  }
  return r;
}

std::vector<std::string> AgentDiagnoseArgv(const std::string& binary, const std::string& dir,
                                           const std::string& catalogue) {
  return {binary,
          "diagnose",
          "--catalogue=" + catalogue,
          "--discover=false",
          "--collector=127.0.0.1:50051",
          "--insecure",
          "--token-file=" + dir + "/token",
          "--spool-dir=" + dir + "/spool",
          "--agent-id-file=" + dir + "/agent-id",
          "--report-dir=" + dir + "/reports",
          "--timeout=1s",
          "--upload-timeout=3s"};
}

absl::StatusOr<std::unique_ptr<rig::Process>> StartRelay(const std::string& binary,
                                                         const std::string& dir,
                                                         const std::string& listen,
                                                         std::vector<std::string> extra_args) {
  rig::Process::Options options;
  options.argv = {binary, "--listen=" + listen, "--ready-file=" + dir + "/relay.ready"};
  options.argv.insert(options.argv.end(), extra_args.begin(), extra_args.end());
  options.log_path = dir + "/relay.log";
  auto relay = rig::Process::Start(options);
  if (!relay.ok()) return relay.status();
  if (absl::Status up = rig::WaitForFile(dir + "/relay.ready", absl::Seconds(10), relay->get());
      !up.ok()) {
    return up;
  }
  return relay;
}

std::string CatalogueText(const std::string& address) {
  return absl::StrCat(R"pb(name: "e2e"
                           regions { id: "emea" display_name: "EMEA"
                                     relays { id: "emea-1" addresses: ")pb",
                      address, R"pb(" ports: [8200, 8443] } }
  )pb");
}

}  // namespace relayscope::e2e
