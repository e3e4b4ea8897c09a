using System.Text.Json;

namespace LiveEdit.System.Tests;

internal static class Json
{
    public static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);
}
