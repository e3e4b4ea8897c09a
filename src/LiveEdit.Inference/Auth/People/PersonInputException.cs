namespace LiveEdit.Inference.Auth.People;

/// <summary>A value for a person's account that cannot be used; <see cref="Field"/> names it.</summary>
public sealed class PersonInputException(string field, string message) : Exception($"{field}: {message}")
{
    /// <summary>The field at fault (<c>user</c>, <c>name</c>, <c>role</c>, <c>password</c>).</summary>
    public string Field { get; } = field;
}
