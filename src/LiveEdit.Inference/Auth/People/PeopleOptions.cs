namespace LiveEdit.Inference.Auth.People;

/// <summary>Configuration section <c>People</c>: the lockout of people's accounts.</summary>
public sealed class PeopleOptions
{
    public const string Section = "People";

    /// <summary>Failed attempts (wrong password, or any attempt while disabled or locked) that lock an account.</summary>
    public int MaxFailedAttempts { get; set; } = 5;

    /// <summary>How long a locked account stays locked, in minutes.</summary>
    public int LockoutMinutes { get; set; } = 15;

    /// <summary>Throws naming the setting when a value cannot be used.</summary>
    public void Validate()
    {
        if (MaxFailedAttempts < 1) throw new InvalidOperationException($"{Section}:MaxFailedAttempts must be at least 1, not {MaxFailedAttempts}.");
        if (LockoutMinutes < 1) throw new InvalidOperationException($"{Section}:LockoutMinutes must be at least 1, not {LockoutMinutes}.");
    }
}
