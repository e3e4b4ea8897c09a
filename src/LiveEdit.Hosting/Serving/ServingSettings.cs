using Microsoft.Extensions.Configuration;

namespace LiveEdit.Hosting.Serving;

/// <summary>
/// Configuration section <c>Serving</c>: how queries are batched (<see cref="QueryBatcher"/>). Environment variables
/// <c>Serving__BatchWindowMs</c> and <c>Serving__MaxBatch</c> override the settings file.
/// </summary>
public sealed class ServingSettings
{
    public const string Section = "Serving";

    /// <summary>
    /// How long the first query of a batch waits for others at the same version, in milliseconds, while other queries
    /// are in flight (a query alone on the server never waits; 0: no wait, but queries that arrive while a batch runs
    /// still join the next one).
    /// </summary>
    public int BatchWindowMs { get; set; } = 2;

    /// <summary>Most queries in one batch (1: every query alone).</summary>
    public int MaxBatch { get; set; } = 16;

    /// <summary>Reads and checks the section; throws naming the setting when a value is out of range.</summary>
    public static ServingSettings From(IConfiguration? configuration)
    {
        var settings = configuration?.GetSection(Section).Get<ServingSettings>() ?? new ServingSettings();
        settings.Validate();
        return settings;
    }

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the setting that is out of range.</summary>
    public void Validate()
    {
        if (BatchWindowMs is < 0 or > 1000) throw new InvalidOperationException($"{Section}:BatchWindowMs must be between 0 and 1000, not {BatchWindowMs}");
        if (MaxBatch is < 1 or > 256) throw new InvalidOperationException($"{Section}:MaxBatch must be between 1 and 256, not {MaxBatch}");
    }
}
