// API tokens and the other secrets the server hands out (session ids, CSRF
// tokens, a generated admin password): 256-bit random values, base64url.
// Tokens are stored only as their SHA-256 (Catalog::CreateToken); the value
// is shown once, when it is made. `cairn token ...` (src/cli) is a thin
// layer over these functions.
// Thread-safe: the catalog is.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "daemon/catalog.h"

namespace cairn {

// `bytes` random bytes, base64url without padding.
Result<std::string> GenerateSecret(size_t bytes);
std::string Base64UrlEncode(std::string_view data);

// A token name: 1-64 of [A-Za-z0-9_.-] (it appears in audit records as
// "token:<name>" and in the session of a token sign-in).
bool IsTokenName(std::string_view name);
// Whether `text` could be a token this server made ("cairn_" and 43
// base64url characters); cheap to check before a catalog lookup.
bool LooksLikeToken(std::string_view text);

struct NewApiToken {
  TokenRecord record;
  std::string token;  // the secret: "cairn_" + 43 base64url characters
};

// Creates a token; `actor` is recorded in the audit log ("cli:root").
Result<NewApiToken> CreateApiToken(Catalog& catalog, const std::string& name, Role role, const std::string& actor);
Result<std::vector<TokenRecord>> ListApiTokens(Catalog& catalog);
// kNotFound when no token has this name.
Status DeleteApiToken(Catalog& catalog, const std::string& name, const std::string& actor);

}  // namespace cairn
