// `cairn token create|list|delete`: API tokens for `cairn serve`, stored
// (hashed) in the catalog at <server.data_dir>/catalog.db. The token is
// printed once, on creation; nothing can show it again.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cairn/config.h"
#include "cairn/system.h"
#include "cli/common.h"
#include "daemon/catalog_sqlite.h"
#include "server/tokens.h"

namespace cairn {
namespace {

// The catalog of the configuration named by -c (or CAIRN_CONFIG, or the
// default path), as `cairn serve` opens it. Without `create`, nullptr when
// there is none yet (no daemon ran, no token was made).
std::unique_ptr<Catalog> OpenCatalogOf(const CLI::App& app, bool create) {
  const std::string path = ConfigPathOf(app);
  Config config = ValueOrThrow(LoadConfig(path));
  for (const auto& w : config.warnings) std::fprintf(stderr, "warning: %s\n", OneLine(w).c_str());
  if (config.server.data_dir.empty())
    throw CommandError{Status::InvalidArgument(path + ": server.data_dir is not set")};
  const std::string file = config.server.data_dir + "/catalog.db";
  if (!create && ::access(file.c_str(), F_OK) != 0) return nullptr;
  // The data directory holds the catalog (token hashes, sessions): owner only.
  if (::mkdir(config.server.data_dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw CommandError{Status::FromErrno(errno, "cannot create server.data_dir " + config.server.data_dir)};
  return ValueOrThrow(OpenSqliteCatalog(file));
}

std::string CliActor() { return "cli:" + Username(); }

}  // namespace

void AddTokenCommands(CLI::App& app) {
  auto* token = app.add_subcommand("token", "API tokens for the REST API of cairn serve");
  token->require_subcommand(1);

  static std::string name, role_text = "read";
  static bool json_out = false;
  auto* create = token->add_subcommand("create", "Create a token and print it (once)");
  create->add_option("name", name, "Name of the token (letters, digits, '_', '.', '-')")->required();
  create->add_option("--role", role_text, "read, operate or admin (default read)");
  create->add_flag("--json", json_out, "Machine-readable output on stdout");
  create->callback([&app] {
    const std::optional<Role> role = ParseRole(role_text);
    if (!role) throw CommandError{Status::InvalidArgument("--role must be read, operate or admin")};
    auto catalog = OpenCatalogOf(app, /*create=*/true);
    NewApiToken made = ValueOrThrow(CreateApiToken(*catalog, name, *role, CliActor()));
    if (json_out) {
      std::cout << Dump(json{{"name", made.record.name}, {"role", std::string(ToString(made.record.role))},
                             {"token", made.token}})
                << "\n";
    } else {
      std::cout << made.token << "\n";
      std::fprintf(stderr, "created token %s (role %s); it is shown only now: keep it in a secret store\n",
                   made.record.name.c_str(), std::string(ToString(made.record.role)).c_str());
    }
  });

  auto* list = token->add_subcommand("list", "List tokens (names and roles, never the tokens)");
  list->add_flag("--json", json_out, "Machine-readable output on stdout");
  list->callback([&app] {
    auto catalog = OpenCatalogOf(app, /*create=*/false);
    std::vector<TokenRecord> tokens = catalog ? ValueOrThrow(ListApiTokens(*catalog)) : std::vector<TokenRecord>{};
    json out = json::array();
    for (const TokenRecord& t : tokens)
      out.push_back({{"name", t.name},
                     {"role", std::string(ToString(t.role))},
                     {"created_at", FormatTime(t.created_ns)},
                     {"last_used_at", t.last_used_ns ? json(FormatTime(t.last_used_ns)) : json(nullptr)}});
    if (json_out) {
      std::cout << Dump(out) << "\n";
      return;
    }
    std::printf("%-24s  %-8s  %-20s  %s\n", "NAME", "ROLE", "CREATED (UTC)", "LAST USED (UTC)");
    for (const TokenRecord& t : tokens)
      std::printf("%-24s  %-8s  %-20s  %s\n", t.name.c_str(), std::string(ToString(t.role)).c_str(),
                  FormatTime(t.created_ns).substr(0, 19).c_str(),
                  t.last_used_ns ? FormatTime(t.last_used_ns).substr(0, 19).c_str() : "never");
  });

  auto* remove = token->add_subcommand("delete", "Delete a token: requests with it fail at once");
  remove->add_option("name", name, "Name of the token")->required();
  remove->callback([&app] {
    auto catalog = OpenCatalogOf(app, /*create=*/false);
    if (!catalog) throw CommandError{Status::NotFound("no API token named '" + name + "'")};
    ThrowIfError(DeleteApiToken(*catalog, name, CliActor()));
    std::fprintf(stderr, "deleted token %s\n", name.c_str());
  });
}

}  // namespace cairn
