# syntax=docker/dockerfile:1.7
# One image for all four services; the ECS task definition picks the entry point
# (infra/services/entrypoints.ts): node dist/app/{ingest/main,ingest/writer-main,query/main,cdc/main}.js
# — the same dist/ files `npm run build` produces and the tests run.

# ---- build: full dependencies, compile TypeScript to dist/ ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY app ./app
COPY db ./db
RUN npm run build

# ---- runtime: production dependencies only, non-root ----
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The primary's migration runner reads SQL from <cwd>/db/migrations (compiled dist/ holds no .sql;
# the warehouse migrations are TypeScript, compiled into dist/).
COPY db/migrations ./db/migrations
# RDS and RDS Proxy certificates chain to the RDS CA, which is not in Node's
# bundle; DATABASE_URL uses sslmode=verify-full (infra/services/service-urls.ts).
ADD --chmod=0644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/rds-global-bundle.pem
# The node image's unprivileged user (uid 1000); nothing in /app is writable by it.
USER node
EXPOSE 8080
# Default: the all-in-one local entry point; ECS overrides the command per service.
CMD ["node", "dist/app/main.js"]
