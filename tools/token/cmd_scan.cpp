// token scan [PATH...]: offline leak search. Reports where tokens are (path,
// line, id, prefix), never what they are.
#include "common.hpp"

#include <tokenadm/errors.hpp>
#include <tokenadm/scan.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tokencli {

namespace {

namespace fs = std::filesystem;

struct ScanOptions {
  std::vector<std::string> paths;
  std::vector<std::string> excludes;
  std::string format = "text";
};

class Scan {
public:
  explicit Scan(const ScanOptions& o) : m_o(o), m_json(o.format == "json") {}

  void path(const std::string& p, bool explicit_arg)
  {
    if (p == "-" && explicit_arg) {
      fd(0, "-");
      return;
    }
    if (excluded(p)) {
      return;
    }
    struct stat st {};
    // Inside a directory a symlink is not followed (no loops, no escaping
    // the tree); a path given by name is.
    if ((explicit_arg ? ::stat(p.c_str(), &st) : ::lstat(p.c_str(), &st)) != 0) {
      error(p, std::strerror(errno));
      return;
    }
    if (S_ISDIR(st.st_mode)) {
      directory(p);
    } else if (explicit_arg || S_ISREG(st.st_mode)) {
      file(p);
    }
  }

  std::uint64_t found() const { return m_found; }
  bool failed() const { return m_failed; }

private:
  bool excluded(const std::string& p) const
  {
    const auto slash = p.find_last_of('/');
    const auto base = slash == std::string::npos ? p : p.substr(slash + 1);
    return std::any_of(m_o.excludes.begin(), m_o.excludes.end(), [&](const std::string& g) {
      return ::fnmatch(g.c_str(), base.c_str(), 0) == 0 || ::fnmatch(g.c_str(), p.c_str(), 0) == 0;
    });
  }

  void directory(const std::string& dir)
  {
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
      error(dir, ec.message());
      return;
    }
    // Sorted, so a report is the same from run to run.
    std::vector<std::string> names;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      names.push_back(it->path().filename().string());
    }
    if (ec) {
      error(dir, ec.message());
    }
    std::sort(names.begin(), names.end());
    const auto base = dir.back() == '/' ? dir : dir + "/";
    for (const auto& n : names) {
      path(base + n, false);
    }
  }

  void file(const std::string& p)
  {
    const int f = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (f < 0) {
      error(p, std::strerror(errno));
      return;
    }
    fd(f, p);
    ::close(f);
  }

  void fd(int f, const std::string& p)
  {
    const auto shown = tokenadm::redact_tokens(p);
    try {
      tokenadm::scan_fd(
        f,
        [&](const tokenadm::ScanFinding& x) {
          ++m_found;
          if (m_json) {
            std::cout << json_text(nlohmann::json{{"path", shown},
                                        {"line", x.line},
                                        {"id", x.id},
                                        {"prefix", x.prefix}})
                      << '\n';
          } else {
            std::cout << shown << ':' << x.line << ": " << x.id << " (" << x.prefix << ")\n";
          }
        },
        shown);
    } catch (const tokenadm::Error& e) {
      error(p, e.what(), false);
    }
  }

  // An unreadable path is reported and skipped; the scan goes on, but its
  // exit status is 2 (it cannot say the tree is clean).
  void error(const std::string& p, const std::string& why, bool prefix_path = true)
  {
    m_failed = true;
    const auto msg = prefix_path ? "cannot read " + p + ": " + why : why;
    const auto safe = tokenadm::redact_tokens(msg);
    std::cout.flush();
    std::cerr << "token: " << safe << '\n';
    if (m_json) {
      std::cout << json_text(nlohmann::json{{"path", tokenadm::redact_tokens(p)},
                                  {"error", {{"code", "io"}, {"message", safe}}}})
                << '\n';
    }
  }

  const ScanOptions& m_o;
  bool m_json;
  std::uint64_t m_found = 0;
  bool m_failed = false;
};

} // namespace

Command setup_scan(CLI::App& app, Globals& g)
{
  auto* sub = app.add_subcommand(
    "scan", "Find tokens in files, directories or stdin (offline); exit 2 if any is found");
  auto o = std::make_shared<ScanOptions>();
  sub->add_option("path", o->paths, "Files and directories (recursively); - or none: stdin")
    ->type_name("PATH");
  sub->add_option("--exclude", o->excludes,
                  "Skip files and directories whose name or path matches GLOB (repeatable)")
    ->type_name("GLOB")
    ->allow_extra_args(false);
  add_format(*sub, g, o->format, {"text", "json"});
  sub->footer("Prints PATH:LINE: ID (PREFIX) per token whose check characters verify; never "
              "the secret.\nExit status: 0 none found, 2 found or a path could not be read.");
  return {sub, [&g, o] {
            // No database: only a deadline asked for applies, not the default
            // one meant for a hung server.
            if (g.cfg.sources.find("timeout") == g.cfg.sources.end()) {
              ::alarm(0);
            }
            Scan scan(*o);
            if (o->paths.empty()) {
              scan.path("-", true);
            }
            for (const auto& p : o->paths) {
              scan.path(p, true);
            }
            std::cout.flush();
            if (!std::cout) {
              throw tokenadm::Error("io", "cannot write the report to stdout");
            }
            if (scan.found() > 0) {
              note("found " + std::to_string(scan.found()) + " token(s)");
              return 2;
            }
            return scan.failed() ? 2 : 0;
          }};
}

} // namespace tokencli
