using LiveEdit.Inference.Auth;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace LiveEdit.Inference.Endpoints;

/// <summary>
/// How the API describes itself in <c>/openapi/v1.json</c>: the API-key scheme on every operation that needs a key,
/// the problem responses each operation can give (with the host's <c>code</c> and <c>traceId</c> members), tags and
/// servers. The success responses come from the handlers' typed results.
/// </summary>
public static class ApiDescription
{
    /// <summary>Name of the security scheme in the document.</summary>
    public const string SecurityScheme = "ApiKey";

    /// <summary>Media type of every error body.</summary>
    public const string ProblemJson = "application/problem+json";

    private static readonly (string Name, string Description)[] Tags =
    [
        ("Edits", "Propose, decide on, retract, read and list edits. Every change is an event in the hash-chained ledger."),
        ("Query", "Ask the edited model about an image, now or as of a past version or time."),
        ("Ledger", "The ledger's versions, what changed between two of them, the active expert set, and the audit of the chain."),
    ];

    /// <summary>Registers the OpenAPI document with the transformers that complete it.</summary>
    public static IServiceCollection AddApiDescription(this IServiceCollection services) => services.AddOpenApi(o =>
    {
        o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "LiveEdit inference API";
            document.Info.Description =
                "Edits to a vision-language model as events in a hash-chained ledger, and the edited model served at any version. " +
                $"Every operation needs an API key in the {ApiKeyAuthentication.Header} header; the key's roles decide what it may do. " +
                $"Every error is a problem-details body ({ProblemJson}) with a stable `code`.";
            // Servers are the request's own address; the linters want no trailing slash on them.
            foreach (var server in document.Servers ?? []) server.Url = server.Url?.TrimEnd('/') is { Length: > 0 } url ? url : server.Url;
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[SecurityScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = ApiKeyAuthentication.Header,
                Description = "A key configured on the host (as its SHA-256). Its roles (proposer, approver, auditor, admin) decide which operations it may call.",
            };
            document.Tags = new HashSet<OpenApiTag>(Tags.Select(t => new OpenApiTag { Name = t.Name, Description = t.Description }));
            return Task.CompletedTask;
        });
        o.AddOperationTransformer((operation, context, _) =>
        {
            var metadata = context.Description.ActionDescriptor.EndpointMetadata;
            if (metadata.OfType<IAuthorizeData>().Any() && !metadata.OfType<IAllowAnonymous>().Any())
            {
                operation.Security ??= [];
                operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(SecurityScheme, context.Document)] = [] });
            }
            foreach (var (status, response) in operation.Responses ?? [])
            {
                if (status is "429" or "503" && response is OpenApiResponse writable)
                {
                    writable.Headers ??= new Dictionary<string, IOpenApiHeader>();
                    writable.Headers["Retry-After"] = new OpenApiHeader
                    {
                        Description = "Seconds to wait before retrying (when the host knows).",
                        Schema = new OpenApiSchema { Type = JsonSchemaType.Integer },
                    };
                }
            }
            return Task.CompletedTask;
        });
        o.AddSchemaTransformer((schema, context, _) =>
        {
            var type = Nullable.GetUnderlyingType(context.JsonTypeInfo.Type) ?? context.JsonTypeInfo.Type;
            // Enums are written as their names (JsonStringEnumConverter): say they are strings, so clients get string unions.
            if (type.IsEnum && schema.Enum is { Count: > 0 } && schema.Type is null) schema.Type = JsonSchemaType.String;
            // An event's payload has the shape of its type (named beside it): a JSON object, not "anything".
            if (context.JsonPropertyInfo?.PropertyType == typeof(object) && schema.Type is null)
            {
                schema.Type = JsonSchemaType.Object;
                schema.AdditionalProperties = new OpenApiSchema();
            }
            // A nullable property whose type is a named schema is written as a bare reference, which says "never null".
            if (context.JsonTypeInfo.Kind == System.Text.Json.Serialization.Metadata.JsonTypeInfoKind.Object && schema.Properties is { } properties)
            {
                foreach (var property in context.JsonTypeInfo.Properties)
                {
                    if (property.AttributeProvider is not System.Reflection.PropertyInfo info || new System.Reflection.NullabilityInfoContext().Create(info).ReadState != System.Reflection.NullabilityState.Nullable) continue;
                    // Before references are made, a named schema is inline and carries its future name as x-schema-id.
                    if (properties.TryGetValue(property.Name, out var named) && IsNamed(named))
                        properties[property.Name] = new OpenApiSchema { OneOf = [new OpenApiSchema { Type = JsonSchemaType.Null }, named] };
                }
            }
            // The query's image is optional: a text-only question.
            if (type == typeof(QueryEndpoints.QueryForm)) schema.Required?.Remove("image");
            if (type != typeof(ProblemDetails)) return Task.CompletedTask;
            schema.Description = "An error: RFC 9457 problem details with the host's stable `code` and the `traceId` its log files it under.";
            schema.Properties ??= new Dictionary<string, IOpenApiSchema>();
            // The host fills these four in every problem it writes (ProblemMapping), so they are never null.
            schema.Properties["type"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "A URI naming the kind of problem: https://liveedit.local/problems/{code} for the host's own errors, the RFC 9110 section for a bare status (401, 403, 404, 405, 415)." };
            schema.Properties["title"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "A short, human-readable summary of the problem." };
            schema.Properties["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32", Description = "The HTTP status code." };
            schema.Properties["detail"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "What went wrong with this request, naming the field concerned." };
            schema.Properties["code"] = new OpenApiSchema
            {
                Type = JsonSchemaType.String,
                Description = "Stable snake_case identifier of the error (e.g. `missing_field`, `edit_not_found`, `version_mismatch`, `unauthorized`): what clients branch on.",
            };
            schema.Properties["traceId"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "The request's trace id, as the host's log records it." };
            schema.Properties["currentVersion"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Integer,
                Format = "int64",
                Description = "With `version_mismatch` (412): the edit's (or routing policy's) current version, to send as If-Match after reading it again.",
            };
            schema.Properties["field"] = new OpenApiSchema
            {
                Type = JsonSchemaType.String,
                Description = "With `invalid_routing_policy` (400): the policy value that was refused (`margin`, `band`, `hubnessWeight`, `hubnessTopK`, `filterBankSha256`).",
            };
            schema.Required ??= new HashSet<string>();
            foreach (var name in new[] { "type", "title", "status", "detail", "code" }) schema.Required.Add(name);
            return Task.CompletedTask;
        });
    });

    private static bool IsNamed(IOpenApiSchema schema) =>
        schema is OpenApiSchemaReference
        || schema is OpenApiSchema { Metadata: { } metadata } named && metadata.TryGetValue("x-schema-id", out var id) && id is string { Length: > 0 }
            && (named.Type is not { } type || !type.HasFlag(JsonSchemaType.Null));

    /// <summary>
    /// Requires a key allowed by <paramref name="policy"/>, and documents what that adds to every answer: 401 (no or an
    /// unknown key), 403 (the key's role may not), 429 (too many failed keys from this address), and the 500/503 any
    /// request may meet.
    /// </summary>
    public static TBuilder RequireKey<TBuilder>(this TBuilder builder, string policy) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(policy).ProducesProblems(StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden,
            StatusCodes.Status429TooManyRequests, StatusCodes.Status500InternalServerError, StatusCodes.Status503ServiceUnavailable);

    /// <summary>Documents problem-details answers with these status codes.</summary>
    public static TBuilder ProducesProblems<TBuilder>(this TBuilder builder, params int[] statuses) where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in statuses) builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(ProblemDetails), [ProblemJson]));
        return builder;
    }

    /// <summary>
    /// Documents a multipart form the operation reads itself, field by field. Not <c>Accepts&lt;T&gt;()</c>: that metadata
    /// also makes routing refuse other content types before the handler, whose own 415 names the problem better.
    /// </summary>
    public static TBuilder DescribesForm<TForm, TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AddOpenApiOperationTransformer(async (operation, context, ct) =>
        {
            var schema = await context.GetOrCreateSchemaAsync(typeof(TForm), cancellationToken: ct);
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Content = new Dictionary<string, OpenApiMediaType> { ["multipart/form-data"] = new() { Schema = schema } },
            };
        });

    /// <summary>Documents a request header the operation reads itself (not through parameter binding).</summary>
    public static TBuilder DocumentsHeader<TBuilder>(this TBuilder builder, string name, string description) where TBuilder : IEndpointConventionBuilder =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = name,
                In = ParameterLocation.Header,
                Required = false,
                Description = description,
                Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            });
            return Task.CompletedTask;
        });
}
