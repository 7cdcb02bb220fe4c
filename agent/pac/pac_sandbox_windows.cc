// The PAC sandbox's process on Windows. The child is this executable again
// (the release is one .exe), started with kPacSandboxChildFlag:
//   - under a restricted token (CreateRestrictedToken DISABLE_MAX_PRIVILEGE:
//     no privilege but change-notify) at low integrity, so it cannot write
//     to the user's files or registry even if the engine were subverted,
//   - created suspended and assigned to a Job object before its first
//     instruction: a memory cap (the heap cap's backstop), a CPU-time cap
//     (the wall-clock limits' backstop), one process only, no UI (desktop,
//     clipboard, global atoms, other processes' handles), death on an
//     unhandled exception instead of an error dialog, killed with the job,
//   - inheriting exactly its two pipe ends (PROC_THREAD_ATTRIBUTE_HANDLE_LIST)
//     as stdin and stdout, no other handle and no console window.
// The parent enforces the wall-clock limits (TerminateJobObject) and
// answers DNS over the pipe, as on Linux; the protocol, the engine and how
// a stop is named are pac_sandbox.cc's, shared with Linux.
#include <winsock2.h>
// winsock2.h first: windows.h would otherwise pull in the old winsock.h.
#include <iphlpapi.h>
#include <malloc.h>
#include <sddl.h>
#include <windows.h>
#include <ws2tcpip.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/pac/pac_sandbox.h"
#include "agent/pac/pac_sandbox_internal.h"

namespace relayscope::agent {
namespace pac_internal {
namespace {

// What a refused Windows call says, for an INTERNAL status.
std::string ErrorText(const char* call, DWORD error) {
  char* text = nullptr;
  const DWORD size = FormatMessageA(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, error, 0, reinterpret_cast<char*>(&text), 0, nullptr);
  std::string message(text != nullptr ? text : "", size);
  if (text != nullptr) LocalFree(text);
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r' ||
                              message.back() == '.' || message.back() == ' ')) {
    message.pop_back();
  }
  return absl::StrCat(call, " failed: error ", error, message.empty() ? "" : " (", message,
                      message.empty() ? "" : ")");
}

bool WriteAll(HANDLE handle, const char* data, size_t size) {
  while (size > 0) {
    DWORD written = 0;
    const DWORD chunk = static_cast<DWORD>(std::min<size_t>(size, 1 << 20));
    if (!WriteFile(handle, data, chunk, &written, nullptr) || written == 0) return false;
    data += written;
    size -= written;
  }
  return true;
}
bool ReadAll(HANDLE handle, char* data, size_t size) {
  while (size > 0) {
    DWORD read = 0;
    const DWORD chunk = static_cast<DWORD>(std::min<size_t>(size, 1 << 20));
    if (!ReadFile(handle, data, chunk, &read, nullptr) || read == 0) return false;
    data += read;
    size -= read;
  }
  return true;
}

// Anonymous pipes have no overlapped I/O, so a thread reads the child's
// output into a buffer that ReadMessage waits on with its deadline.
class PipeReader {
 public:
  explicit PipeReader(HANDLE pipe) : pipe_(pipe), thread_([this] { Run(); }) {}
  ~PipeReader() { thread_.join(); }  // the pipe breaks when the child is gone

  // Moves `size` bytes to `out`; false when the child is gone first, or
  // `deadline` passes (then *timed_out is set).
  bool Take(size_t size, absl::Time deadline, char* out, bool* timed_out) {
    struct Wanted {
      PipeReader* reader;
      size_t size;
    } wanted{this, size};
    const absl::Condition ready(
        +[](Wanted* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return w->reader->buffer_.size() >= w->size || w->reader->closed_;
        },
        &wanted);
    const bool in_time = mu_.LockWhenWithDeadline(ready, deadline);
    const bool have = buffer_.size() >= size;
    if (have) {
      std::memcpy(out, buffer_.data(), size);
      buffer_.erase(0, size);
    } else if (!in_time) {
      *timed_out = true;
    }
    mu_.Unlock();
    return have;
  }

 private:
  // More than any honest child sends ahead of the parent (answers are
  // bounded per query): past it the child is treated as gone.
  static constexpr size_t kMaxBuffered = 16 << 20;

  void Run() {
    std::string chunk(64 << 10, '\0');
    while (true) {
      DWORD read = 0;
      const bool ok =
          ReadFile(pipe_, chunk.data(), static_cast<DWORD>(chunk.size()), &read, nullptr) != FALSE;
      absl::MutexLock lock(&mu_);
      if (!ok || read == 0 || buffer_.size() > kMaxBuffered) {
        closed_ = true;
        return;
      }
      buffer_.append(chunk.data(), read);
    }
  }

  HANDLE pipe_;
  absl::Mutex mu_;
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: it starts once the members above exist
};

class JobChild final : public SandboxProcess {
 public:
  JobChild(HANDLE job, HANDLE process, HANDLE from_child, HANDLE to_child, std::string request,
           int64_t cpu_limit_100ns)
      : job_(job),
        process_(process),
        from_child_(from_child),
        to_child_(to_child),
        cpu_limit_100ns_(cpu_limit_100ns),
        reader_(std::make_unique<PipeReader>(from_child)),
        // The child reads its request first thing, but a child that never
        // starts must not hang the parent: the parent's deadline (and the
        // job's end, which breaks the pipe) bounds this writer too.
        writer_([this, request = std::move(request)] {
          WriteAll(to_child_, request.data(), request.size());
        }) {}
  ~JobChild() override { Finish(true); }

  bool ReadMessage(absl::Time deadline, char* type, std::string* payload,
                   bool* timed_out) override {
    char header[5];
    if (!reader_->Take(5, deadline, header, timed_out)) return false;
    *type = header[0];
    uint32_t size = 0;
    std::memcpy(&size, header + 1, 4);
    if (size > kMaxMessageBytes) return false;
    payload->resize(size);
    return size == 0 || reader_->Take(size, deadline, payload->data(), timed_out);
  }

  bool Write(const char* data, size_t size) override {
    // The child asks nothing before it has read the whole request.
    if (writer_.joinable()) writer_.join();
    return WriteAll(to_child_, data, size);
  }

  Ending Finish(bool kill) override {
    Ending ending;
    if (finished_) return ending;
    finished_ = true;
    if (kill) TerminateJobObject(job_, 1);
    // A child that said it is done exits at once; one that does not within
    // seconds is stopped.
    if (WaitForSingleObject(process_, 10000) != WAIT_OBJECT_0) {
      TerminateJobObject(job_, 1);
      WaitForSingleObject(process_, INFINITE);
    }
    DWORD code = 0;
    GetExitCodeProcess(process_, &code);
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION accounting{};
    if (QueryInformationJobObject(job_, JobObjectBasicAccountingInformation, &accounting,
                                  sizeof(accounting), nullptr)) {
      ending.cpu_limit = accounting.TotalUserTime.QuadPart >= cpu_limit_100ns_;
    }
    if (!kill && code != 0) ending.how = absl::StrCat("exit code 0x", absl::Hex(code));
    CloseHandle(to_child_);  // the writer, if still blocked, fails now
    if (writer_.joinable()) writer_.join();
    reader_.reset();  // the child is gone: its reader has seen the pipe break
    CloseHandle(from_child_);
    CloseHandle(process_);
    CloseHandle(job_);  // JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    return ending;
  }

 private:
  HANDLE job_;
  HANDLE process_;
  HANDLE from_child_;
  HANDLE to_child_;
  int64_t cpu_limit_100ns_;
  std::unique_ptr<PipeReader> reader_;
  std::thread writer_;
  bool finished_ = false;
};

// Owns a handle until released.
struct ScopedHandle {
  HANDLE handle = nullptr;
  ScopedHandle() = default;
  explicit ScopedHandle(HANDLE h) : handle(h) {}
  ScopedHandle(const ScopedHandle&) = delete;
  ScopedHandle& operator=(const ScopedHandle&) = delete;
  ~ScopedHandle() {
    if (handle != nullptr && handle != INVALID_HANDLE_VALUE) CloseHandle(handle);
  }
  HANDLE release() { return std::exchange(handle, nullptr); }
};

// This process's token without its privileges, at low integrity where the
// system allows lowering it (a failure there leaves the medium level).
absl::StatusOr<HANDLE> RestrictedToken() {
  ScopedHandle own;
  if (!OpenProcessToken(GetCurrentProcess(),
                        TOKEN_DUPLICATE | TOKEN_QUERY | TOKEN_ASSIGN_PRIMARY | TOKEN_ADJUST_DEFAULT,
                        &own.handle)) {
    return absl::InternalError(ErrorText("OpenProcessToken", GetLastError()));
  }
  HANDLE restricted = nullptr;
  if (!CreateRestrictedToken(own.handle, DISABLE_MAX_PRIVILEGE, 0, nullptr, 0, nullptr, 0, nullptr,
                             &restricted)) {
    return absl::InternalError(ErrorText("CreateRestrictedToken", GetLastError()));
  }
  PSID low = nullptr;
  if (ConvertStringSidToSidW(L"S-1-16-4096", &low)) {  // SECURITY_MANDATORY_LOW_RID
    TOKEN_MANDATORY_LABEL label{};
    label.Label.Attributes = SE_GROUP_INTEGRITY;
    label.Label.Sid = low;
    SetTokenInformation(restricted, TokenIntegrityLevel, &label, sizeof(label) + GetLengthSid(low));
    LocalFree(low);
  }
  return restricted;
}

absl::StatusOr<HANDLE> LimitedJob(const PacOptions& options, int64_t cpu_limit_100ns) {
  ScopedHandle job(CreateJobObjectW(nullptr, nullptr));
  if (job.handle == nullptr)
    return absl::InternalError(ErrorText("CreateJobObject", GetLastError()));
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
  limits.BasicLimitInformation.LimitFlags =
      JOB_OBJECT_LIMIT_PROCESS_MEMORY | JOB_OBJECT_LIMIT_PROCESS_TIME |
      JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_ACTIVE_PROCESS |
      JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
  limits.BasicLimitInformation.ActiveProcessLimit = 1;
  limits.BasicLimitInformation.PerProcessUserTimeLimit.QuadPart = cpu_limit_100ns;
  // The engine's own cap (the heap allocator) must trip first, so a PAC
  // that allocates without bound is named as such; the job's cap is the
  // backstop with room for the executable, the C runtime and the engine's
  // bookkeeping.
  limits.ProcessMemoryLimit = options.memory_limit + options.memory_limit / 4 + (64 << 20);
  if (!SetInformationJobObject(job.handle, JobObjectExtendedLimitInformation, &limits,
                               sizeof(limits))) {
    return absl::InternalError(ErrorText("SetInformationJobObject (limits)", GetLastError()));
  }
  JOBOBJECT_BASIC_UI_RESTRICTIONS ui{};
  ui.UIRestrictionsClass = JOB_OBJECT_UILIMIT_DESKTOP | JOB_OBJECT_UILIMIT_DISPLAYSETTINGS |
                           JOB_OBJECT_UILIMIT_EXITWINDOWS | JOB_OBJECT_UILIMIT_GLOBALATOMS |
                           JOB_OBJECT_UILIMIT_HANDLES | JOB_OBJECT_UILIMIT_READCLIPBOARD |
                           JOB_OBJECT_UILIMIT_SYSTEMPARAMETERS | JOB_OBJECT_UILIMIT_WRITECLIPBOARD;
  if (!SetInformationJobObject(job.handle, JobObjectBasicUIRestrictions, &ui, sizeof(ui))) {
    return absl::InternalError(ErrorText("SetInformationJobObject (UI)", GetLastError()));
  }
  return job.release();
}

std::wstring OwnExecutable() {
  std::wstring path(MAX_PATH, L'\0');
  while (true) {
    const DWORD size = GetModuleFileNameW(nullptr, path.data(), static_cast<DWORD>(path.size()));
    if (size == 0) return L"";
    if (size < path.size()) {
      path.resize(size);
      return path;
    }
    path.resize(path.size() * 2);  // a long (\\?\) path
  }
}

}  // namespace

bool ChildChannel::Write(const char* data, size_t size) const { return WriteAll(out_, data, size); }
bool ChildChannel::Read(char* data, size_t size) const { return ReadAll(in_, data, size); }

size_t AllocationSize(void* allocation) { return _msize(allocation); }

absl::StatusOr<std::unique_ptr<SandboxProcess>> StartSandboxProcess(
    const std::string& script, const std::vector<PacQuery>& queries, const PacOptions& options) {
  // The CPU backstop: the whole evaluation's wall-clock bound and a second.
  const int64_t cpu_limit_100ns =
      (absl::ToInt64Seconds(TimeBudgets(options, queries, script.size()).total) + 1) * 10000000;
  const std::wstring exe = OwnExecutable();
  if (exe.empty()) {
    return absl::InternalError(
        ErrorText("cannot start the PAC sandbox: GetModuleFileName", GetLastError()));
  }
  absl::StatusOr<HANDLE> token = RestrictedToken();
  if (!token.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot start the PAC sandbox: ", token.status().message()));
  }
  ScopedHandle restricted(*token);
  absl::StatusOr<HANDLE> job_handle = LimitedJob(options, cpu_limit_100ns);
  if (!job_handle.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot start the PAC sandbox: ", job_handle.status().message()));
  }
  ScopedHandle job(*job_handle);

  SECURITY_ATTRIBUTES inheritable{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  ScopedHandle child_in, to_child, from_child, child_out;
  if (!CreatePipe(&child_in.handle, &to_child.handle, &inheritable, 0) ||
      !CreatePipe(&from_child.handle, &child_out.handle, &inheritable, 0) ||
      !SetHandleInformation(to_child.handle, HANDLE_FLAG_INHERIT, 0) ||
      !SetHandleInformation(from_child.handle, HANDLE_FLAG_INHERIT, 0)) {
    return absl::InternalError(
        ErrorText("cannot start the PAC sandbox: CreatePipe", GetLastError()));
  }

  // Exactly the two pipe ends are inherited, whatever else this process
  // holds inheritable (a console, a log file, a socket).
  SIZE_T list_size = 0;
  InitializeProcThreadAttributeList(nullptr, 1, 0, &list_size);
  std::vector<char> list_memory(list_size);
  auto* attributes = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(list_memory.data());
  HANDLE inherited[2] = {child_in.handle, child_out.handle};
  if (!InitializeProcThreadAttributeList(attributes, 1, 0, &list_size) ||
      !UpdateProcThreadAttribute(attributes, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherited,
                                 sizeof(inherited), nullptr, nullptr)) {
    return absl::InternalError(
        ErrorText("cannot start the PAC sandbox: UpdateProcThreadAttribute", GetLastError()));
  }
  STARTUPINFOEXW startup{};
  startup.StartupInfo.cb = sizeof(startup);
  startup.StartupInfo.dwFlags = STARTF_USESTDHANDLES | STARTF_USESHOWWINDOW;
  startup.StartupInfo.wShowWindow = SW_HIDE;
  startup.StartupInfo.hStdInput = child_in.handle;
  startup.StartupInfo.hStdOutput = child_out.handle;
  startup.StartupInfo.hStdError = nullptr;
  startup.lpAttributeList = attributes;

  std::wstring command_line = L"\"" + exe + L"\" ";
  for (const char* c = kPacSandboxChildFlag; *c != '\0'; ++c) command_line.push_back(*c);
  PROCESS_INFORMATION process{};
  const BOOL created =
      CreateProcessAsUserW(restricted.handle, exe.c_str(), command_line.data(), nullptr, nullptr,
                           TRUE, CREATE_SUSPENDED | CREATE_NO_WINDOW | EXTENDED_STARTUPINFO_PRESENT,
                           nullptr, nullptr, &startup.StartupInfo, &process);
  const DWORD create_error = GetLastError();
  DeleteProcThreadAttributeList(attributes);
  if (!created) {
    return absl::InternalError(
        ErrorText("cannot start the PAC sandbox: CreateProcessAsUser", create_error));
  }
  ScopedHandle thread(process.hThread);
  ScopedHandle child_process(process.hProcess);
  // In the job before its first instruction: nothing it runs is unlimited.
  if (!AssignProcessToJobObject(job.handle, process.hProcess)) {
    const DWORD error = GetLastError();
    TerminateProcess(process.hProcess, 1);
    return absl::InternalError(
        ErrorText("cannot start the PAC sandbox: AssignProcessToJobObject", error));
  }
  if (ResumeThread(process.hThread) == static_cast<DWORD>(-1)) {
    const DWORD error = GetLastError();
    TerminateJobObject(job.handle, 1);
    return absl::InternalError(ErrorText("cannot start the PAC sandbox: ResumeThread", error));
  }
  // The child's ends are the child's now: with the parent's copies closed,
  // a child that dies breaks both pipes.
  CloseHandle(child_in.release());
  CloseHandle(child_out.release());

  std::string request = EncodeChildRequest(script, queries, options);
  std::string framed(8, '\0');
  const uint64_t size = request.size();
  std::memcpy(framed.data(), &size, 8);
  framed += request;
  return std::make_unique<JobChild>(job.release(), child_process.release(), from_child.release(),
                                    to_child.release(), std::move(framed), cpu_limit_100ns);
}

}  // namespace pac_internal

void RunPacSandboxChildIfAsked(int argc, char** argv) {
  if (argc != 2 || std::strcmp(argv[1], kPacSandboxChildFlag) != 0) return;
  // No error dialog for anything: the job's DIE_ON_UNHANDLED_EXCEPTION
  // covers crashes, this the loader's and the file system's boxes.
  SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX);
  const HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
  const HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
  uint64_t size = 0;
  // The request holds at most the largest script and its queries.
  constexpr uint64_t kMaxRequestBytes = kMaxPacBytes + (16 << 20);
  if (!pac_internal::ReadAll(in, reinterpret_cast<char*>(&size), 8) || size > kMaxRequestBytes) {
    std::_Exit(2);
  }
  std::string request(static_cast<size_t>(size), '\0');
  if (!pac_internal::ReadAll(in, request.data(), request.size())) std::_Exit(2);
  std::string script;
  std::vector<PacQuery> queries;
  PacOptions options;
  if (!pac_internal::DecodeChildRequest(request, &script, &queries, &options).ok()) std::_Exit(2);
  request.clear();
  request.shrink_to_fit();
  const pac_internal::ChildChannel channel(out, in);
  // The token and the job were set before this process ran: nothing is
  // left to close here.
  pac_internal::RunChild(script, queries, options, &channel, [] { return std::string(); });
}

namespace {

// Winsock must be started once before getaddrinfo; it stays up for the
// process's life.
bool StartWinsock() {
  static const bool started = [] {
    WSADATA data;
    return WSAStartup(MAKEWORD(2, 2), &data) == 0;
  }();
  return started;
}

std::string AddressText(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = {};
  const void* bytes =
      address->sa_family == AF_INET
          ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(address)->sin_addr)
          : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr);
  if (inet_ntop(address->sa_family, bytes, text, sizeof(text)) == nullptr) return "";
  return text;
}

}  // namespace

std::vector<std::string> SystemResolve(const std::string& host, bool all) {
  std::vector<std::string> out;
  if (!StartWinsock()) return out;
  addrinfo hints{};
  hints.ai_family = all ? AF_UNSPEC : AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0) return out;
  for (addrinfo* a = result; a != nullptr; a = a->ai_next) {
    if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
    const std::string text = AddressText(a->ai_addr);
    if (!text.empty() && std::find(out.begin(), out.end(), text) == out.end()) out.push_back(text);
  }
  freeaddrinfo(result);
  return out;
}

std::vector<std::string> LocalAddresses() {
  std::vector<std::string> addresses, loopback;
  ULONG size = 16 << 10;
  std::vector<char> buffer;
  ULONG status = ERROR_BUFFER_OVERFLOW;
  // The list can grow between the calls (an adapter coming up).
  for (int attempt = 0; attempt < 3 && status == ERROR_BUFFER_OVERFLOW; ++attempt) {
    buffer.resize(size);
    status = GetAdaptersAddresses(
        AF_UNSPEC, GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER,
        nullptr, reinterpret_cast<IP_ADAPTER_ADDRESSES*>(buffer.data()), &size);
  }
  if (status != NO_ERROR) return {"127.0.0.1"};
  for (auto* adapter = reinterpret_cast<IP_ADAPTER_ADDRESSES*>(buffer.data()); adapter != nullptr;
       adapter = adapter->Next) {
    if (adapter->OperStatus != IfOperStatusUp) continue;
    const bool is_loopback = adapter->IfType == IF_TYPE_SOFTWARE_LOOPBACK;
    for (auto* unicast = adapter->FirstUnicastAddress; unicast != nullptr;
         unicast = unicast->Next) {
      const sockaddr* address = unicast->Address.lpSockaddr;
      if (address == nullptr || (address->sa_family != AF_INET && address->sa_family != AF_INET6)) {
        continue;
      }
      const std::string text = AddressText(address);
      if (text.empty() || absl::StartsWith(text, "fe80")) continue;  // link-local: not an identity
      (is_loopback ? loopback : addresses).push_back(text);
    }
  }
  addresses.insert(addresses.end(), loopback.begin(), loopback.end());
  return addresses;
}

}  // namespace relayscope::agent
