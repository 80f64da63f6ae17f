# One image for baton's processes (worker, bank simulator, client); docker-compose.yml picks the command.
FROM node:20-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production

# tsx runs the TypeScript sources directly, and it is a runtime dependency, so dev tools can stay out.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY . .

USER node
CMD ["node", "--import", "tsx", "workers/worker.ts"]
