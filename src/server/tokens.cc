#include "server/tokens.h"

#include "cairn/crypto.h"

namespace cairn {
namespace {

constexpr std::string_view kTokenPrefix = "cairn_";
constexpr size_t kTokenBytes = 32;

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

std::string Base64UrlEncode(std::string_view data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(data[k])); };
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  if (data.size() - i == 1) {
    const uint32_t v = byte(i) << 16;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
  } else if (data.size() - i == 2) {
    const uint32_t v = byte(i) << 16 | byte(i + 1) << 8;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
  }
  return out;
}

Result<std::string> GenerateSecret(size_t bytes) {
  std::string raw(bytes, '\0');
  CAIRN_RETURN_IF_ERROR(crypto::RandomBytes(reinterpret_cast<uint8_t*>(raw.data()), raw.size()));
  return Base64UrlEncode(raw);
}

bool IsTokenName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
          c == '-'))
      return false;
  return true;
}

bool LooksLikeToken(std::string_view text) {
  if (!text.starts_with(kTokenPrefix) || text.size() != kTokenPrefix.size() + 43) return false;
  for (char c : text.substr(kTokenPrefix.size()))
    if (!IsBase64UrlChar(c)) return false;
  return true;
}

Result<NewApiToken> CreateApiToken(Catalog& catalog, const std::string& name, Role role, const std::string& actor) {
  if (!IsTokenName(name))
    return Status::InvalidArgument("token name '" + name.substr(0, 64) +
                                   "' is not 1-64 letters, digits, '_', '.' or '-'");
  CAIRN_ASSIGN_OR_RETURN(std::string secret, GenerateSecret(kTokenBytes));
  NewApiToken out;
  out.token = std::string(kTokenPrefix) + secret;
  CAIRN_ASSIGN_OR_RETURN(out.record, catalog.CreateToken(name, role, out.token));
  // The token exists now; an audit failure must not hide that from the caller.
  (void)catalog.AppendAudit(actor, "token.create", Json{{"name", name}, {"role", std::string(ToString(role))}});
  return out;
}

Result<std::vector<TokenRecord>> ListApiTokens(Catalog& catalog) { return catalog.ListTokens(); }

Status DeleteApiToken(Catalog& catalog, const std::string& name, const std::string& actor) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<TokenRecord> tokens, catalog.ListTokens());
  for (const TokenRecord& t : tokens) {
    if (t.name != name) continue;
    CAIRN_RETURN_IF_ERROR(catalog.DeleteToken(t.id));
    (void)catalog.AppendAudit(actor, "token.delete", Json{{"name", name}, {"role", std::string(ToString(t.role))}});
    return Status::Ok();
  }
  return Status::NotFound("no API token named '" + name.substr(0, 64) + "'");
}

}  // namespace cairn
