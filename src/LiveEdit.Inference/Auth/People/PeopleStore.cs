using LiveEdit.Ledger.Storage;
using Microsoft.AspNetCore.Identity;
using Npgsql;

namespace LiveEdit.Inference.Auth.People;

/// <summary>
/// People's accounts in the ledger's <c>ledger_people</c> table (<see cref="PeopleTable"/>). Passwords are hashed with
/// ASP.NET Core Identity's <see cref="PasswordHasher{TUser}"/> (PBKDF2 with HMAC-SHA512, a salt of its own per hash).
/// Adding, disabling and setting passwords need the owner role (<c>liveedit users</c>); the hosts connect as the
/// application role and only read accounts and count failures.
/// </summary>
public sealed class PeopleStore(Func<NpgsqlConnection> connect, string schema, TimeProvider? clock = null)
{
    private readonly string _table = Table(schema);
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private static readonly PasswordHasher<PersonAccount> Hasher = new();

    /// <summary>A store over a connection string (the CLI's, as the owner role).</summary>
    public static PeopleStore Open(string connectionString, string schema, TimeProvider? clock = null) =>
        new(() => new NpgsqlConnection(connectionString), schema, clock);

    /// <summary>A password's hash in Identity's format (never the password).</summary>
    public static string HashPassword(string password) => Hasher.HashPassword(null!, password);

    /// <summary>Whether <paramref name="password"/> matches <paramref name="hash"/>; a malformed hash never matches.</summary>
    public static bool PasswordMatches(string hash, string password)
    {
        try
        {
            return Hasher.VerifyHashedPassword(null!, hash, password) != PasswordVerificationResult.Failed;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>Adds a person; throws <see cref="PersonInputException"/> naming the field that is wrong, or <c>user</c> when the name is taken (in any case).</summary>
    public async Task<PersonAccount> AddAsync(string userName, string displayName, IEnumerable<string> roles, string password, CancellationToken ct = default)
    {
        var name = PersonRules.UserName(userName);
        var display = PersonRules.DisplayName(displayName);
        var roleList = PersonRules.RoleList(roles);
        var hash = HashPassword(PersonRules.Password(password));
        var now = _clock.GetUtcNow();
        await using var connection = connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand($"""
            insert into {_table} (user_name, display_name, roles, password_hash, disabled, failed_attempts, locked_until, created_at, changed_at)
            values (@user, @display, @roles, @hash, false, 0, null, @now, @now)
            """, connection);
        command.Parameters.AddWithValue("user", name);
        command.Parameters.AddWithValue("display", display);
        command.Parameters.AddWithValue("roles", roleList.ToArray());
        command.Parameters.AddWithValue("hash", hash);
        command.Parameters.AddWithValue("now", now);
        try
        {
            await command.ExecuteNonQueryAsync(ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new PersonInputException("user", $"'{name}' is taken (user names are compared without regard to case).");
        }
        return new PersonAccount(name, display, roleList, false, 0, null, now, now);
    }

    /// <summary>Every account, by user name.</summary>
    public async Task<IReadOnlyList<PersonAccount>> ListAsync(CancellationToken ct = default)
    {
        await using var connection = connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand($"select {Columns} from {_table} order by lower(user_name)", connection);
        var accounts = new List<PersonAccount>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) accounts.Add(Read(reader).Account);
        return accounts;
    }

    /// <summary>The account with this user name (any case), or null.</summary>
    public async Task<PersonAccount?> FindAsync(string userName, CancellationToken ct = default) => (await FindWithHashAsync(userName, ct))?.Account;

    /// <summary>Disables (<paramref name="disabled"/> true) or enables an account; enabling also clears a lockout. False when there is no such user.</summary>
    public async Task<bool> SetDisabledAsync(string userName, bool disabled, CancellationToken ct = default) =>
        await UpdateAsync(userName, disabled
            ? "disabled = true, changed_at = @now"
            : "disabled = false, failed_attempts = 0, locked_until = null, changed_at = @now", null, ct);

    /// <summary>Sets a new password and clears a lockout. False when there is no such user.</summary>
    public async Task<bool> SetPasswordAsync(string userName, string password, CancellationToken ct = default) =>
        await UpdateAsync(userName, "password_hash = @hash, failed_attempts = 0, locked_until = null, changed_at = @now",
            HashPassword(PersonRules.Password(password)), ct);

    /// <summary>
    /// Counts one failed attempt; the attempt that reaches <paramref name="maxAttempts"/> locks the account for
    /// <paramref name="lockout"/> and starts the count again. One statement, so concurrent failures all count.
    /// </summary>
    internal async Task RecordFailureAsync(string userName, int maxAttempts, TimeSpan lockout, CancellationToken ct)
    {
        await using var connection = connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand($"""
            update {_table} set
                locked_until = case when failed_attempts + 1 >= @max then @until else locked_until end,
                failed_attempts = case when failed_attempts + 1 >= @max then 0 else failed_attempts + 1 end
            where lower(user_name) = lower(@user)
            """, connection);
        command.Parameters.AddWithValue("max", maxAttempts);
        command.Parameters.AddWithValue("until", _clock.GetUtcNow() + lockout);
        command.Parameters.AddWithValue("user", userName);
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Clears the failure count and any ended lockout after a success.</summary>
    internal async Task RecordSuccessAsync(string userName, CancellationToken ct)
    {
        await using var connection = connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand($"""
            update {_table} set failed_attempts = 0, locked_until = null
            where lower(user_name) = lower(@user) and (failed_attempts <> 0 or locked_until is not null)
            """, connection);
        command.Parameters.AddWithValue("user", userName);
        await command.ExecuteNonQueryAsync(ct);
    }

    internal async Task<(PersonAccount Account, string PasswordHash)?> FindWithHashAsync(string userName, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(userName) || userName.Length > PersonRules.MaxUserNameLength) return null;
        await using var connection = connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand($"select {Columns} from {_table} where lower(user_name) = lower(@user)", connection);
        command.Parameters.AddWithValue("user", userName.Trim());
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? Read(reader) : null;
    }

    private async Task<bool> UpdateAsync(string userName, string set, string? hash, CancellationToken ct)
    {
        var name = PersonRules.UserName(userName);
        await using var connection = connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand($"update {_table} set {set} where lower(user_name) = lower(@user)", connection);
        command.Parameters.AddWithValue("user", name);
        command.Parameters.AddWithValue("now", _clock.GetUtcNow());
        if (hash is not null) command.Parameters.AddWithValue("hash", hash);
        return await command.ExecuteNonQueryAsync(ct) == 1;
    }

    private const string Columns = "user_name, display_name, roles, disabled, failed_attempts, locked_until, created_at, changed_at, password_hash";

    private static (PersonAccount Account, string PasswordHash) Read(NpgsqlDataReader r) =>
        (new PersonAccount(r.GetString(0), r.GetString(1), r.GetFieldValue<string[]>(2), r.GetBoolean(3), r.GetInt32(4),
            r.IsDBNull(5) ? null : r.GetFieldValue<DateTimeOffset>(5), r.GetFieldValue<DateTimeOffset>(6), r.GetFieldValue<DateTimeOffset>(7)), r.GetString(8));

    private static string Table(string schema)
    {
        LedgerSchema.RequireIdentifier(schema, nameof(schema));
        return $"{schema}.{PeopleTable.Name}";
    }
}
