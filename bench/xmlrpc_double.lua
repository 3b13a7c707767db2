-- wrk script: every request is the XML-RPC call double(42), as xmlrpc.client sends it.
wrk.method = "POST"
wrk.path = "/RPC2"
wrk.headers["Content-Type"] = "text/xml"
wrk.body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>double</methodName>\n<params>\n<param>\n<value><int>42</int></value>\n</param>\n</params>\n</methodCall>\n"

local bad = 0
response = function(status, headers, body)
   if status ~= 200 or not string.find(body, "<int>84</int>", 1, true) then
      bad = bad + 1
   end
end

done = function(summary, latency, requests)
   io.write(string.format("BAD %d\n", bad))
end
