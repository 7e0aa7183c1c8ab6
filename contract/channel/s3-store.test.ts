import { describe, expect, it } from "vitest";
import { normalizePrefix, objectPath, parseListPage, parseS3Error, S3ChannelStore } from "./s3-store";

describe("the S3 store's pure parts", () => {
  it("percent-encodes each segment of an object's path and keeps the slashes", () => {
    expect(objectPath("b", "nodes/n1/desired.json")).toBe("/b/nodes/n1/desired.json");
    expect(objectPath("b", "a b/c+d&e")).toBe("/b/a%20b/c%2Bd%26e");
  });

  it("reads a ListObjectsV2 page: keys (entities decoded), truncation and the next token", () => {
    const page = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix>nodes/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated><NextContinuationToken>tok+/=</NextContinuationToken>
  <Contents><Key>nodes/a&amp;b.json</Key><Size>3</Size></Contents>
  <Contents><Key>nodes/0001</Key><Size>1</Size></Contents>
</ListBucketResult>`;
    expect(parseListPage(page)).toEqual({ keys: ["nodes/a&b.json", "nodes/0001"], next: "tok+/=" });
    const refs = `<ListBucketResult><Contents><Key>a&#39;b&#x41;&amp;copy;</Key></Contents></ListBucketResult>`;
    expect(parseListPage(refs)).toEqual({ keys: ["a'bA&copy;"] });
    const one = `<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key></Contents></ListBucketResult>`;
    expect(parseListPage(one)).toEqual({ keys: ["k"] });
    expect(parseListPage("<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>")).toEqual({
      keys: [],
    });
    expect(() => parseListPage("<html>proxy error</html>")).toThrow(/not a ListBucketResult/);
  });

  it("reads the server's error code and message, or says the status", () => {
    const e = parseS3Error(
      404,
      "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>",
    );
    expect(e.code).toBe("NoSuchBucket");
    expect(e.status).toBe(404);
    expect(e.message).toBe("The specified bucket does not exist");
    expect(parseS3Error(404, "").code).toBe("NotFound");
    expect(parseS3Error(502, "bad gateway").message).toBe("bad gateway");
  });

  it("normalizes the prefix", () => {
    expect(normalizePrefix(undefined)).toBe("");
    expect(normalizePrefix("")).toBe("");
    expect(normalizePrefix("/berth/prod/")).toBe("berth/prod/");
    expect(() => normalizePrefix("a/../b")).toThrow(/invalid channel prefix/);
  });

  it("names bucket and prefix in its url and refuses keys that escape", async () => {
    const s = new S3ChannelStore({
      endpoint: "http://127.0.0.1:1",
      bucket: "b",
      prefix: "p",
      accessKeyId: "K",
      secretAccessKey: "S",
    });
    expect(s.url).toBe("s3://b/p/");
    await expect(s.put("../x", "")).rejects.toThrow(/invalid channel key/);
    await expect(s.get("nodes//x")).rejects.toThrow(/invalid channel key/);
    s.destroy();
  });
});
