using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;

namespace LiveEdit.Model.Editor;

/// <summary>
/// How the edited model routes an input to experts beyond the paper's hard filter (docs/routing-policy.md): a serving
/// setting, not part of the generator's identity, since it changes no expert's bytes. Every value 0 is the paper's
/// routing (<see cref="Paper"/>).
/// </summary>
/// <param name="Margin">
/// Hard filter: keep e iff sim(φ̄, φ̂_e) &gt; sim(φ̄, φ̄_Ξ) − margin. 0: the paper's filter; a positive margin keeps more
/// experts (recall on other renderings for precision, which soft routing then has to make up).
/// </param>
/// <param name="Band">
/// 0: off. Otherwise, of the hard filter's survivors keep only those within the band of the best one's similarity
/// (max_e' sim(φ̄, φ̂_e') − band).
/// </param>
/// <param name="HubnessWeight">
/// 0: off. Otherwise λ of the hubness correction: keep e iff sim(φ̄, φ̂_e) &gt; sim(φ̄, φ̄_Ξ) − margin + λ·o_e, o_e the
/// mean of expert e's <see cref="HubnessTopK"/> largest excesses over the threshold on the editor's
/// <see cref="FilterBank"/>.
/// </param>
/// <param name="HubnessTopK">K of the hubness correction; 0 when it is off.</param>
/// <param name="FilterBankSha256">
/// SHA-256 of the editor folder's filter bank the correction reads; null when it is off. A policy names the bank
/// rather than carrying it: the bank is an artefact of the editor's folder.
/// </param>
public sealed record RoutingPolicy(
    double Margin = 0,
    double Band = 0,
    double HubnessWeight = 0,
    int HubnessTopK = 0,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? FilterBankSha256 = null)
{
    /// <summary>The paper's routing: no margin, no band, no hubness correction.</summary>
    public static readonly RoutingPolicy Paper = new();

    /// <summary>The canonical text the <see cref="Sha256"/> is taken over (one line per value, invariant culture, round-trip floats).</summary>
    [JsonIgnore]
    public string Canonical => string.Create(CultureInfo.InvariantCulture,
        $"liveedit-routing-policy/1\nmargin={Zero(Margin):R}\nband={Zero(Band):R}\nhubness-weight={Zero(HubnessWeight):R}\nhubness-top-k={HubnessTopK}\nfilter-bank={FilterBankSha256?.ToLowerInvariant() ?? "none"}\n");

    /// <summary>SHA-256 (lower-case hex) of <see cref="Canonical"/>: the name under which the policy is recorded and reported.</summary>
    [JsonIgnore]
    public string Sha256 => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Canonical)));

    /// <summary>True when this is the paper's routing.</summary>
    [JsonIgnore]
    public bool IsPaper => Margin == 0 && Band == 0 && HubnessWeight == 0 && HubnessTopK == 0 && FilterBankSha256 is null;

    /// <summary>
    /// Returns this policy when its values are well formed, else throws <see cref="InvalidRoutingPolicyException"/> naming
    /// the field (margin, band, hubnessWeight, hubnessTopK, filterBankSha256). Whether the editor has the bank is checked
    /// by <see cref="RequireFits"/>.
    /// </summary>
    public RoutingPolicy Validate()
    {
        if (!double.IsFinite(Margin) || Math.Abs(Margin) > MaxMagnitude)
            throw new InvalidRoutingPolicyException("margin", $"must be a finite number within ±{MaxMagnitude} (0: the paper's filter), not {Show(Margin)}");
        if (!double.IsFinite(Band) || Band < 0 || Band > MaxMagnitude)
            throw new InvalidRoutingPolicyException("band", $"must be a finite number in 0..{MaxMagnitude} (0: off), not {Show(Band)}");
        if (!double.IsFinite(HubnessWeight) || HubnessWeight < 0 || HubnessWeight > MaxMagnitude)
            throw new InvalidRoutingPolicyException("hubnessWeight", $"must be a finite number in 0..{MaxMagnitude} (0: off), not {Show(HubnessWeight)}");
        if (HubnessWeight == 0)
        {
            if (HubnessTopK != 0) throw new InvalidRoutingPolicyException("hubnessTopK", $"must be 0 when the hubness weight is 0, not {HubnessTopK}");
            if (FilterBankSha256 is not null) throw new InvalidRoutingPolicyException("filterBankSha256", "must be absent when the hubness weight is 0");
        }
        else
        {
            if (HubnessTopK < 1) throw new InvalidRoutingPolicyException("hubnessTopK", $"must be at least 1 with a hubness weight, not {HubnessTopK}");
            if (FilterBankSha256 is not { Length: 64 } bank || !bank.All(Uri.IsHexDigit))
                throw new InvalidRoutingPolicyException("filterBankSha256", "must be the SHA-256 (64 hex digits) of the editor's filter bank with a hubness weight");
        }
        return this;
    }

    /// <summary>
    /// Throws <see cref="InvalidRoutingPolicyException"/> unless the policy is valid and <paramref name="editor"/> can route
    /// with it: a hubness correction needs the editor's filter bank with that SHA-256 and K within its size.
    /// </summary>
    public RoutingPolicy RequireFits(EditorModules editor)
    {
        Validate();
        if (HubnessWeight == 0) return this;
        if (editor.Bank is not { } bank || !string.Equals(bank.Sha256, FilterBankSha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidRoutingPolicyException("filterBankSha256", $"the editor has no filter bank {FilterBankSha256![..12]}");
        if (HubnessTopK > bank.Count)
            throw new InvalidRoutingPolicyException("hubnessTopK", $"must be within 1..{bank.Count} (the filter bank's size), not {HubnessTopK}");
        return this;
    }

    /// <summary>
    /// The terms the editor's generator SHA-256 carried for these values before routing left the identity
    /// (<see cref="EditorModules.LegacyGeneratorSha256"/>): nothing for a 0, in this order.
    /// </summary>
    internal IEnumerable<string> LegacyIdentityTerms()
    {
        if (Margin != 0) yield return string.Create(CultureInfo.InvariantCulture, $"filter-margin={Margin:R}");
        if (Band != 0) yield return string.Create(CultureInfo.InvariantCulture, $"filter-band={Band:R}");
        if (HubnessWeight != 0)
            yield return string.Create(CultureInfo.InvariantCulture, $"hubness weight={HubnessWeight:R} top={HubnessTopK} bank={FilterBankSha256}");
    }

    /// <inheritdoc/>
    public override string ToString() => IsPaper ? "the paper's routing"
        : string.Create(CultureInfo.InvariantCulture, $"margin {Margin:R}, band {Band:R}, hubness λ {HubnessWeight:R} top {HubnessTopK}{(FilterBankSha256 is { } b ? $" bank {b[..12]}" : "")}");

    /// <summary>Largest magnitude any value may take (similarities are scaled by 1/√d_m; anything larger is a typo).</summary>
    public const double MaxMagnitude = 1e6;

    private static double Zero(double x) => x == 0 ? 0 : x; // −0 and 0 are one policy

    private static string Show(double x) => x.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>A routing policy value out of range; <see cref="Field"/> names it as the JSON and HTTP forms do.</summary>
public sealed class InvalidRoutingPolicyException(string field, string message)
    : ArgumentException($"routing policy {field}: {message}")
{
    /// <summary>The offending field (camelCase, as in JSON).</summary>
    public string Field { get; } = field;
}

/// <summary>
/// A generator id an editor answers to besides its own: the SHA-256 the same weights and refinement hashed to when the
/// routing policy <see cref="Policy"/> was part of the identity. Recorded in the editor file and recomputed from the
/// weights at load (<see cref="EditorModules.Load"/>), never taken on trust.
/// </summary>
public sealed record IdentityAlias(string GeneratorSha256, RoutingPolicy Policy);
